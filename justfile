# agentwire tasks. Run them through ./dev, which provides the venv: `./dev --list`.

set dotenv-load := false

# list the recipes
default:
    @just --list

# (./dev up runs this command itself, without just, which would take Ctrl-C as an error: see ./dev)
# run the whole stack: embedded nats-server (unless NATS_URL is set) and the four services
[positional-arguments]
up *args:
    exec python -m devstack up "$@"

# run the whole test suite
test *args:
    python -m pytest {{args}}

# unit tests only (no processes, no network)
unit *args:
    python -m pytest tests/unit {{args}}

# lint and check formatting
lint:
    ruff check .
    ruff format --check .

# format the code
fmt:
    ruff format .
    ruff check --fix .

# make the Ed25519 token signing key pair under .data/keys (./dev up does this on its own)
keys:
    python -m devstack keys

# bring the auth and agent databases (DATABASE_URL, default .data/auth.db and .data/agent.db)
# to the newest schema
migrate:
    python -m services.auth migrate
    python -m services.agent migrate

# write what docker-compose.yml needs: keys, NATS config with per-service users, credentials
compose-files:
    python -m devstack compose-files

# (./dev chat runs this command itself, without just, which would take Ctrl-C as an error)
# chat from the terminal (agentwire-chat): ./dev chat --register --email you@example.com
[positional-arguments]
chat *args:
    @python -m agentwire_client.cli "$@"

# benchmark the gateway against nats-server's own WebSocket (`--quick`: ~30 s), or `./dev bench runs`: the whole stack's runs, or `./dev bench stream`: streamed answers (`--help` on each)
bench *args:
    python -m bench {{args}}
