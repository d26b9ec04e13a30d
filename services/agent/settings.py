"""The agent service's settings, read once from the environment at start-up.

Defaults are module constants rather than dataclass class attributes: with ``slots=True`` a
class attribute is replaced by a slot descriptor, so ``cls.agent_name`` would not be the default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.agent.agents.agui import AguiSettings
from services.agent.agents.llm import DEFAULT_SYSTEM_PROMPT, LlmSettings
from services.agent.approvals import DEFAULT_APPROVAL_TIMEOUT_S
from services.agent.messages import DEFAULT_TOKENS_PER_S, Typing
from services.agent.service import DoubleTextPolicy
from shared.settings import Env, NatsSettings, SettingsError
from shared.subjects import is_safe_token

__all__ = [
    "DEFAULT_AGENT_NAME",
    "DEFAULT_DATABASE_URL",
    "DEFAULT_INTAKE_ACK_WAIT_S",
    "DEFAULT_INTAKE_MAX_DELIVER",
    "DEFAULT_LOG_LEVEL",
    "DEFAULT_MAX_CONCURRENT_RUNS",
    "DEFAULT_RUN_LEASE_S",
    "DEFAULT_RUN_STOP_GRACE_S",
    "DEFAULT_RUN_TIMEOUT_S",
    "DEFAULT_SHUTDOWN_GRACE_S",
    "DEFAULT_STREAM_FLUSH_MS",
    "DEFAULT_STREAM_TOKENS_PER_S",
    "DEFAULT_THINK_DELAY_S",
    "DEFAULT_TOOL_CALL_TIMEOUT_S",
    "DEFAULT_TOOL_HEARTBEAT_TIMEOUT_S",
    "AgentSettings",
    "database_url_from_env",
]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///.data/agent.db"
DEFAULT_AGENT_NAME = "infra_analyst"
DEFAULT_MAX_CONCURRENT_RUNS = 64
# How long a call may wait for a tool runner to start it (to send its first heartbeat). Once it
# runs, heartbeats and the runner's per-tool limit decide; a little above the runner's default
# limit so that a runner sending no heartbeats still reports its own tool_timeout first.
DEFAULT_TOOL_CALL_TIMEOUT_S = 35.0
DEFAULT_TOOL_HEARTBEAT_TIMEOUT_S = 3.0
# A killed agent's run is taken over RUN_LEASE_S after its last renewal, plus at most one tick.
DEFAULT_RUN_LEASE_S = 3.0
DEFAULT_RUN_TIMEOUT_S = 300.0
DEFAULT_THINK_DELAY_S = 0.05
# The built-in analyst types its thoughts and answer out at this pace (0: all at once); the
# deltas are coalesced and published at most every STREAM_FLUSH_MS.
DEFAULT_STREAM_TOKENS_PER_S = DEFAULT_TOKENS_PER_S
DEFAULT_STREAM_FLUSH_MS = 40.0
DEFAULT_SHUTDOWN_GRACE_S = 5.0
# A message an agent took but has not acknowledged (it died first) goes to another after this.
DEFAULT_INTAKE_ACK_WAIT_S = 10.0
DEFAULT_INTAKE_MAX_DELIVER = 5  # then the run ends with intake_failed
# A stopped run whose code ignores the stop is ended from outside after this.
DEFAULT_RUN_STOP_GRACE_S = 5.0
DEFAULT_LOG_LEVEL = "INFO"
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True, slots=True)
class AgentSettings:
    nats: NatsSettings = field(default_factory=NatsSettings)
    database_url: str = DEFAULT_DATABASE_URL
    agent_name: str = DEFAULT_AGENT_NAME
    max_concurrent_runs: int = DEFAULT_MAX_CONCURRENT_RUNS
    tool_call_timeout_s: float = DEFAULT_TOOL_CALL_TIMEOUT_S
    think_delay_s: float = DEFAULT_THINK_DELAY_S
    shutdown_grace_s: float = DEFAULT_SHUTDOWN_GRACE_S
    log_level: str = DEFAULT_LOG_LEVEL
    tool_heartbeat_timeout_s: float = DEFAULT_TOOL_HEARTBEAT_TIMEOUT_S
    run_lease_s: float = DEFAULT_RUN_LEASE_S
    run_timeout_s: float = DEFAULT_RUN_TIMEOUT_S
    double_text_policy: DoubleTextPolicy = DoubleTextPolicy.QUEUE
    migrate_on_start: bool = True
    intake_ack_wait_s: float = DEFAULT_INTAKE_ACK_WAIT_S
    intake_max_deliver: int = DEFAULT_INTAKE_MAX_DELIVER
    run_stop_grace_s: float = DEFAULT_RUN_STOP_GRACE_S
    stream_tokens_per_s: float = DEFAULT_STREAM_TOKENS_PER_S
    stream_flush_ms: float = DEFAULT_STREAM_FLUSH_MS
    # More agents, as "package.module:attribute" entries naming agentwire_sdk.Agent objects.
    agents: tuple[str, ...] = ()
    # The agent a message without "agent" goes to; None: "llm" when an LLM endpoint is set,
    # else the built-in analyst (AGENT_NAME).
    default_agent: str | None = None
    llm: LlmSettings | None = None  # an agent named "llm", when LLM_BASE_URL is set
    # Agents that are AG-UI servers: AGUI_AGENTS="name=http://host:port/path,...".
    agui_agents: tuple[AguiSettings, ...] = ()
    # How long a run waits for a person's approval; tools that always / never need one,
    # whatever the tool declares.
    approval_timeout_s: float = DEFAULT_APPROVAL_TIMEOUT_S
    approval_tools: frozenset[str] = frozenset()
    no_approval_tools: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, env: Env) -> AgentSettings:
        """Build the settings; a missing or malformed variable raises SettingsError naming it."""
        settings = cls(
            nats=NatsSettings.from_env(env),
            database_url=database_url_from_env(env),
            agent_name=env.str("AGENT_NAME", DEFAULT_AGENT_NAME),
            max_concurrent_runs=env.int("AGENT_MAX_CONCURRENT_RUNS", DEFAULT_MAX_CONCURRENT_RUNS),
            tool_call_timeout_s=env.float("TOOL_CALL_TIMEOUT_S", DEFAULT_TOOL_CALL_TIMEOUT_S),
            think_delay_s=env.float("THINK_DELAY_S", DEFAULT_THINK_DELAY_S),
            shutdown_grace_s=env.float("AGENT_SHUTDOWN_GRACE_S", DEFAULT_SHUTDOWN_GRACE_S),
            log_level=env.str("LOG_LEVEL", DEFAULT_LOG_LEVEL).upper(),
            tool_heartbeat_timeout_s=env.float(
                "TOOL_HEARTBEAT_TIMEOUT_S", DEFAULT_TOOL_HEARTBEAT_TIMEOUT_S
            ),
            run_lease_s=env.float("RUN_LEASE_S", DEFAULT_RUN_LEASE_S),
            run_timeout_s=env.float("RUN_TIMEOUT_S", DEFAULT_RUN_TIMEOUT_S),
            double_text_policy=_policy(env.str("DOUBLE_TEXT_POLICY", DoubleTextPolicy.QUEUE)),
            migrate_on_start=env.bool("AGENT_MIGRATE_ON_START", True),
            intake_ack_wait_s=env.float("INTAKE_ACK_WAIT_S", DEFAULT_INTAKE_ACK_WAIT_S),
            intake_max_deliver=env.int("INTAKE_MAX_DELIVER", DEFAULT_INTAKE_MAX_DELIVER),
            run_stop_grace_s=env.float("RUN_STOP_GRACE_S", DEFAULT_RUN_STOP_GRACE_S),
            stream_tokens_per_s=env.float("STREAM_TOKENS_PER_S", DEFAULT_STREAM_TOKENS_PER_S),
            stream_flush_ms=env.float("STREAM_FLUSH_MS", DEFAULT_STREAM_FLUSH_MS),
            agents=tuple(a.strip() for a in env.str("AGENTS", "").split(",") if a.strip()),
            default_agent=env.optional("DEFAULT_AGENT"),
            llm=_llm(env),
            agui_agents=_agui_agents(env),
            approval_timeout_s=env.float("APPROVAL_TIMEOUT_S", DEFAULT_APPROVAL_TIMEOUT_S),
            approval_tools=_names(env.str("APPROVAL_TOOLS", "")),
            no_approval_tools=_names(env.str("NO_APPROVAL_TOOLS", "")),
        )
        settings._check()
        return settings

    def _check(self) -> None:
        """Refuse values that would only fail later, in the middle of somebody's run."""
        if not is_safe_token(self.agent_name):
            _refuse("AGENT_NAME", "1-64 characters of A-Z, a-z, 0-9, '_' or '-'", self.agent_name)
        if self.max_concurrent_runs < 1:
            _refuse("AGENT_MAX_CONCURRENT_RUNS", "at least 1", self.max_concurrent_runs)
        if self.tool_call_timeout_s <= 0:
            _refuse("TOOL_CALL_TIMEOUT_S", "positive", self.tool_call_timeout_s)
        if self.think_delay_s < 0:
            _refuse("THINK_DELAY_S", "zero or more", self.think_delay_s)
        if not 0 <= self.stream_tokens_per_s < float("inf"):
            _refuse("STREAM_TOKENS_PER_S", "zero (no pacing) or more", self.stream_tokens_per_s)
        if not 0 < self.stream_flush_ms < float("inf"):
            _refuse("STREAM_FLUSH_MS", "positive", self.stream_flush_ms)
        if self.intake_max_deliver < 1:
            _refuse("INTAKE_MAX_DELIVER", "at least 1", self.intake_max_deliver)
        if self.shutdown_grace_s < 0:
            _refuse("AGENT_SHUTDOWN_GRACE_S", "zero or more", self.shutdown_grace_s)
        if self.log_level not in _LOG_LEVELS:
            _refuse("LOG_LEVEL", f"one of {', '.join(_LOG_LEVELS)}", self.log_level)
        for name, value in (
            ("TOOL_HEARTBEAT_TIMEOUT_S", self.tool_heartbeat_timeout_s),
            ("RUN_LEASE_S", self.run_lease_s),
            ("RUN_TIMEOUT_S", self.run_timeout_s),
            ("INTAKE_ACK_WAIT_S", self.intake_ack_wait_s),
            ("RUN_STOP_GRACE_S", self.run_stop_grace_s),
            ("APPROVAL_TIMEOUT_S", self.approval_timeout_s),
        ):
            if not value > 0:
                _refuse(name, "positive", value)

    @property
    def typing(self) -> Typing:
        """How the runner streams whole thoughts and answers."""
        return Typing(tokens_per_s=self.stream_tokens_per_s, flush_s=self.stream_flush_ms / 1000)

    @property
    def supervise_every_s(self) -> float:
        """Renew, sweep and promote three times per lease: a lease outlives two missed renewals."""
        return self.run_lease_s / 3


def database_url_from_env(env: Env) -> str:
    """DATABASE_URL alone: all ``python -m services.agent migrate`` needs."""
    return env.str("DATABASE_URL", DEFAULT_DATABASE_URL)


def _policy(raw: str) -> DoubleTextPolicy:
    try:
        return DoubleTextPolicy(raw.lower())
    except ValueError:
        choices = ", ".join(policy.value for policy in DoubleTextPolicy)
        raise SettingsError(
            f"environment variable DOUBLE_TEXT_POLICY must be one of {choices}, got {raw!r}"
        ) from None


def _names(raw: str) -> frozenset[str]:
    return frozenset(name.strip() for name in raw.split(",") if name.strip())


def _llm(env: Env) -> LlmSettings | None:
    base_url = env.optional("LLM_BASE_URL")
    if not base_url:
        return None
    if not base_url.startswith(("http://", "https://")):
        _refuse("LLM_BASE_URL", "an http(s) URL such as http://127.0.0.1:11434/v1", base_url)
    settings = LlmSettings(
        base_url=base_url,
        model=env.str("LLM_MODEL"),
        api_key=env.optional("LLM_API_KEY"),
        connect_timeout_s=env.float("LLM_CONNECT_TIMEOUT_S", 10.0),
        read_timeout_s=env.float("LLM_READ_TIMEOUT_S", 300.0),
        max_retries=env.int("LLM_MAX_RETRIES", 3),
        max_steps=env.int("LLM_MAX_STEPS", 10),
        system_prompt=env.str("LLM_SYSTEM_PROMPT", DEFAULT_SYSTEM_PROMPT),
    )
    for name, value in (
        ("LLM_CONNECT_TIMEOUT_S", settings.connect_timeout_s),
        ("LLM_READ_TIMEOUT_S", settings.read_timeout_s),
        ("LLM_MAX_STEPS", settings.max_steps),
    ):
        if not value > 0:
            _refuse(name, "positive", value)
    if settings.max_retries < 0:
        _refuse("LLM_MAX_RETRIES", "zero or more", settings.max_retries)
    return settings


def _agui_agents(env: Env) -> tuple[AguiSettings, ...]:
    entries = [e.strip() for e in env.str("AGUI_AGENTS", "").split(",") if e.strip()]
    if not entries:
        return ()
    connect_timeout_s = env.float("AGUI_CONNECT_TIMEOUT_S", 10.0)
    read_timeout_s = env.float("AGUI_READ_TIMEOUT_S", 300.0)
    max_retries = env.int("AGUI_MAX_RETRIES", 2)
    max_steps = env.int("AGUI_MAX_STEPS", 10)
    for name, value in (
        ("AGUI_CONNECT_TIMEOUT_S", connect_timeout_s),
        ("AGUI_READ_TIMEOUT_S", read_timeout_s),
        ("AGUI_MAX_STEPS", max_steps),
    ):
        if not value > 0:
            _refuse(name, "positive", value)
    if max_retries < 0:
        _refuse("AGUI_MAX_RETRIES", "zero or more", max_retries)
    api_key = env.optional("AGUI_API_KEY")
    return tuple(
        AguiSettings(
            *_agui_entry(entry),
            api_key=api_key,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
            max_retries=max_retries,
            max_steps=max_steps,
        )
        for entry in entries
    )


def _agui_entry(entry: str) -> tuple[str, str]:
    name, _, url = (part.strip() for part in entry.partition("="))
    if not is_safe_token(name) or not url.startswith(("http://", "https://")):
        _refuse("AGUI_AGENTS", "name=http(s)://host:port/path entries, comma-separated", entry)
    return name, url


def _refuse(name: str, requirement: str, got: object) -> None:
    raise SettingsError(f"environment variable {name} must be {requirement}, got {got!r}")
