from bench.natsproto import PONG, NatsReader, pub, sub


class Recorder:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.sent: list[bytes] = []
        self.lines: list[bytes] = []
        self.reader = NatsReader(self.on_msg, self.sent.append, self.on_line)

    def on_msg(self, buf: bytearray, start: int, end: int) -> None:
        self.payloads.append(bytes(buf[start:end]))

    def on_line(self, verb: bytes, line: bytes) -> None:
        self.lines.append(line)


HEADERS = b"NATS/1.0\r\nNats-Sequence: 7\r\n\r\n"
STREAM = (
    b'INFO {"server_id":"x"}\r\n'
    + b'MSG ack 1 9\r\n{"seq":1}\r\n'
    + b"PING\r\n"
    + b'HMSG live.user.u1.events 1 %d %d\r\n%s{"a":1}\r\n'
    % (len(HEADERS), len(HEADERS) + 7, HEADERS)
    + b"MSG r 2 reply.to 0\r\n\r\n"
    + b"-ERR 'Slow Consumer'\r\n"
)


def test_messages_with_and_without_headers_yield_their_payload_only():
    rec = Recorder()
    assert rec.reader.feed(STREAM) == 3
    assert rec.payloads == [b'{"seq":1}', b'{"a":1}', b""]


def test_a_stream_cut_into_one_byte_reads_parses_the_same():
    rec = Recorder()
    for i in range(len(STREAM)):
        rec.reader.feed(STREAM[i : i + 1])
    assert rec.payloads == [b'{"seq":1}', b'{"a":1}', b""]


def test_the_server_ping_is_answered_and_other_lines_are_reported():
    rec = Recorder()
    rec.reader.feed(STREAM)
    assert rec.sent == [PONG]
    assert [line.split()[0] for line in rec.lines] == [b"INFO", b"-ERR"]


def test_commands_are_well_formed():
    assert sub("live.user.u1.events", 3) == b"SUB live.user.u1.events 3\r\n"
    assert pub("user.u1.events", "ack", b"{}") == b"PUB user.u1.events ack 2\r\n{}\r\n"
