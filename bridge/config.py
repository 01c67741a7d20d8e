"""`config.toml` -> frozen, typed configuration sections.

Owns the schema of the configuration file: each section is a frozen dataclass whose fields are the keys, with
their defaults. An unknown section or key, or a value of the wrong type or range, raises
`ConfigError("section.key: why")`, naming the file when one was read.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from bridge.errors import ConfigError

LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True, slots=True, kw_only=True)
class LogConfig:
    level: str = "info"
    show_phone_numbers: bool = False

    def __post_init__(self) -> None:
        if self.level not in LOG_LEVELS:
            raise ConfigError(f"log.level: one of {', '.join(LOG_LEVELS)}, got {self.level!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodeConfig:
    max_input_bytes: int = 10 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.max_input_bytes <= 0:
            raise ConfigError(f"decode.max_input_bytes: a positive number of bytes, got {self.max_input_bytes}")


#: phonenumbers' number types, as `smtp.deny_number_types` names them
NUMBER_TYPE_NAMES = (
    "fixed-line",
    "mobile",
    "fixed-line-or-mobile",
    "toll-free",
    "premium-rate",
    "shared-cost",
    "voip",
    "personal-number",
    "pager",
    "uan",
    "voicemail",
    "unknown",
)

PROFILE_NAMES = (
    "default",
    "text",
    "image-basic",
    "image-rich",
    "video-basic",
    "video-rich",
    "megapixel",
    "content-basic",
    "content-rich",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConvertConfig:
    """How mails become MMS; `max_message_bytes` and the image limits override the profile's when not 0."""

    profile: str = "default"
    max_message_bytes: int = 0
    max_image_width: int = 0
    max_image_height: int = 0
    max_image_pixels: int = 100_000_000
    trim_signature: bool = True
    trim_quotes: bool = True
    max_slide_text_chars: int = 1000
    max_text_chars: int = 10_000

    def __post_init__(self) -> None:
        if self.profile not in PROFILE_NAMES:
            raise ConfigError(f"convert.profile: one of {', '.join(PROFILE_NAMES)}, got {self.profile!r}")
        if self.max_message_bytes and self.max_message_bytes < 2048:
            raise ConfigError(f"convert.max_message_bytes: 0 or at least 2048, got {self.max_message_bytes}")
        for key in ("max_image_width", "max_image_height"):
            value = getattr(self, key)
            if value and value < 16:
                raise ConfigError(f"convert.{key}: 0 or at least 16 pixels, got {value}")
        if self.max_image_pixels < 1_000_000:
            raise ConfigError(f"convert.max_image_pixels: at least 1000000, got {self.max_image_pixels}")
        if self.max_text_chars < 100:
            raise ConfigError(f"convert.max_text_chars: at least 100, got {self.max_text_chars}")
        if self.max_slide_text_chars < 100:
            raise ConfigError(f"convert.max_slide_text_chars: at least 100, got {self.max_slide_text_chars}")


DKIM_POLICIES = ("off", "verify", "require")


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpConfig:
    """The SMTP intake: where it listens, which mail it takes and from whom."""

    host: str = "127.0.0.1"
    port: int = 2525
    hostname: str = "localhost"
    domains: tuple[str, ...] = ("mms.localhost",)
    default_region: str = "US"
    max_message_bytes: int = 26_214_400
    max_recipients: int = 50
    allow_prefixes: tuple[str, ...] = ()
    deny_prefixes: tuple[str, ...] = ()
    number_check: str = "valid"
    deny_number_types: tuple[str, ...] = ("premium-rate", "shared-cost")
    tls_cert_file: str = ""
    tls_key_file: str = ""
    users_file: str = ""
    require_auth: bool = False
    allowed_senders: tuple[str, ...] = ()
    dkim_verify_domains: tuple[str, ...] = ()
    dkim_require_domains: tuple[str, ...] = ()
    dns_nameservers: tuple[str, ...] = ()
    dns_port: int = 53
    dns_timeout_s: float = 5.0
    rate_limit_per_minute: int = 60
    spool_dir: str = "var/spool"
    conversion_threads: int = 2
    conversion_deadline_s: float = 60.0
    max_connections: int = 200
    max_connections_per_ip: int = 50
    max_memory_data_bytes: int = 64 * 1024 * 1024
    lmtp: bool = False
    idle_timeout_s: float = 300.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"smtp.port: 0..65535, got {self.port}")
        if not self.domains:
            raise ConfigError("smtp.domains: at least one domain the bridge answers for")
        if self.max_message_bytes < 1024:
            raise ConfigError(f"smtp.max_message_bytes: at least 1024, got {self.max_message_bytes}")
        if self.max_recipients < 1:
            raise ConfigError(f"smtp.max_recipients: at least 1, got {self.max_recipients}")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ConfigError("smtp.tls_cert_file: set together with smtp.tls_key_file")
        if self.require_auth and not self.users_file:
            raise ConfigError("smtp.require_auth: needs smtp.users_file")
        if self.users_file and not self.tls_cert_file:
            raise ConfigError("smtp.users_file: AUTH is offered only after STARTTLS, so set smtp.tls_cert_file")
        if self.conversion_threads < 1:
            raise ConfigError(f"smtp.conversion_threads: at least 1, got {self.conversion_threads}")
        if self.max_connections < 1 or self.max_connections_per_ip < 1:
            raise ConfigError("smtp.max_connections, smtp.max_connections_per_ip: at least 1")
        if self.max_memory_data_bytes < 0:
            raise ConfigError(f"smtp.max_memory_data_bytes: at least 0, got {self.max_memory_data_bytes}")
        if self.conversion_deadline_s <= 0:
            raise ConfigError(
                f"smtp.conversion_deadline_s: a positive number of seconds, got {self.conversion_deadline_s}"
            )
        if self.idle_timeout_s <= 0:
            raise ConfigError(f"smtp.idle_timeout_s: a positive number of seconds, got {self.idle_timeout_s}")
        if self.number_check not in ("valid", "possible"):
            raise ConfigError(f'smtp.number_check: "valid" or "possible", got {self.number_check!r}')
        for kind in self.deny_number_types:
            if kind not in NUMBER_TYPE_NAMES:
                raise ConfigError(f"smtp.deny_number_types: each one of {', '.join(NUMBER_TYPE_NAMES)}, got {kind!r}")
        for key in ("allow_prefixes", "deny_prefixes"):
            for prefix in getattr(self, key):
                if not (prefix.startswith("+") and prefix[1:].isdigit()):
                    raise ConfigError(f'smtp.{key}: E.164 prefixes like "+1555", got {prefix!r}')


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreConfig:
    url: str = "sqlite:///var/bridge.db"

    def __post_init__(self) -> None:
        if not self.url.startswith("sqlite:///"):
            raise ConfigError(f"store.url: sqlite:///PATH (PostgreSQL comes later), got {self.url!r}")

    @property
    def sqlite_path(self) -> Path:
        return Path(self.url.removeprefix("sqlite:///"))


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryConfig:
    expiry_s: float = 172_800.0
    first_retry_s: float = 60.0
    max_retry_s: float = 3600.0
    jitter: float = 0.2
    delay_warning_s: float = 14_400.0
    lease_s: float = 300.0
    batch: int = 20
    concurrency: int = 8
    poll_s: float = 1.0
    gather_s: float = 0.02

    def __post_init__(self) -> None:
        for key in ("expiry_s", "first_retry_s", "max_retry_s", "lease_s", "poll_s"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"delivery.{key}: a positive number of seconds, got {getattr(self, key)}")
        if not 0 <= self.jitter < 1:
            raise ConfigError(f"delivery.jitter: 0 <= jitter < 1, got {self.jitter}")
        if not 0 <= self.gather_s < self.poll_s:
            raise ConfigError(f"delivery.gather_s: 0 <= gather_s < poll_s, got {self.gather_s}")
        if self.delay_warning_s < 0:
            raise ConfigError(f"delivery.delay_warning_s: 0 (never) or seconds, got {self.delay_warning_s}")
        if self.batch < 1 or self.concurrency < 1:
            raise ConfigError("delivery.batch and delivery.concurrency: at least 1")


ROUTE_KINDS = ("builtin", "folder", "mm7", "eaif", "mm1")


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteConfig:
    """One `[[route]]`: which recipients it takes and how it reaches their MMSC."""

    name: str = ""
    kind: str = "builtin"
    prefixes: tuple[str, ...] = ()
    fallback: str = ""
    profile: str = ""
    max_per_second: float = 0.0
    timeout_s: float = 30.0
    folder: str = "var/delivered"
    url: str = ""
    username: str = ""
    password: str = ""
    ca_file: str = ""
    proxy: str = ""
    mm7_release: str = "REL-6-MM7-1-4"
    mm7_version: str = ""
    vasp_id: str = ""
    vas_id: str = ""
    sender_address: str = ""
    service_code: str = ""
    delivery_report: bool = True
    allow_adaptations: bool = True
    eaif_version: str = "3.0"
    unknown_outcome_wait_s: float = 300.0
    unknown_outcome_resends: int = 1
    callback_username: str = ""
    callback_password: str = ""
    callback_allow: tuple[str, ...] = ()
    forward_to: str = ""

    @property
    def label(self) -> str:
        return self.name or self.kind

    def __post_init__(self) -> None:
        where = f"route {self.label!r}"
        if self.kind not in ROUTE_KINDS:
            raise ConfigError(f"route.kind: one of {', '.join(ROUTE_KINDS)}, got {self.kind!r} ({where})")
        for prefix in self.prefixes:
            if not (prefix.startswith("+") and prefix[1:].isdigit()):
                raise ConfigError(f'route.prefixes: E.164 prefixes like "+1555", got {prefix!r} ({where})')
        if self.kind in ("mm7", "eaif", "mm1") and not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"route.url: the MMSC's http:// or https:// URL, needed for kind {self.kind} ({where})")
        if self.proxy and not self.proxy.startswith(("http://", "https://")):
            raise ConfigError(f"route.proxy: an http:// URL, got {self.proxy!r} ({where})")
        if self.kind == "mm7" and self.mm7_release not in MM7_RELEASE_NAMES:
            raise ConfigError(
                f"route.mm7_release: one of {', '.join(MM7_RELEASE_NAMES)}, got {self.mm7_release!r} ({where})"
            )
        if self.timeout_s <= 0 or self.max_per_second < 0:
            raise ConfigError(f"route.timeout_s: more than 0; route.max_per_second: 0 (no limit) or more ({where})")
        if self.profile and self.profile not in PROFILE_NAMES:
            raise ConfigError(f'route.profile: "" or one of {", ".join(PROFILE_NAMES)}, got {self.profile!r} ({where})')
        if self.fallback and self.fallback == self.label:
            raise ConfigError(f"route.fallback: a route cannot fall back to itself ({where})")
        if self.kind == "mm7" and self.delivery_report and not (self.callback_username or self.callback_allow):
            # fail closed: anyone reaching /mm7/<name> could otherwise fail jobs with a forged report
            raise ConfigError(
                "route.callback_username: an mm7 route with delivery_report takes the MMSC's reports at "
                f"/mm7/{self.label}; set callback_username and callback_password, or callback_allow ({where})"
            )
        if self.unknown_outcome_wait_s < 0 or self.unknown_outcome_resends < 0:
            raise ConfigError(f"route.unknown_outcome_wait_s, route.unknown_outcome_resends: at least 0 ({where})")
        if self.callback_username and not self.callback_password:
            raise ConfigError(f"route.callback_password: needed with callback_username ({where})")


MM7_RELEASE_NAMES = (
    "REL-5-MM7-1-0",
    "REL-5-MM7-1-1",
    "REL-5-MM7-1-2",
    "REL-5-MM7-1-3",
    "REL-6-MM7-1-0",
    "REL-6-MM7-1-1",
    "REL-6-MM7-1-2",
    "REL-6-MM7-1-3",
    "REL-6-MM7-1-4",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminConfig:
    """The web server's admin listener, for operators (the console, the API and metrics install themselves
    there as they come; until something does, it does not start even when enabled)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8089

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"admin.port: 0..65535, got {self.port}")


@dataclass(frozen=True, slots=True, kw_only=True)
class MmscConfig:
    """The builtin MMSC's web side and its notification schedule."""

    host: str = "127.0.0.1"
    port: int = 8088
    public_url: str = ""
    ack_wait_s: float = 60.0
    content_grace_s: float = 86_400.0
    renotify_s: tuple[float, ...] = (600.0, 3600.0, 14_400.0, 43_200.0)
    sender_in_notification: bool = True
    header_timeout_s: float = 30.0
    body_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"mmsc.port: 0..65535, got {self.port}")
        if self.header_timeout_s <= 0 or self.body_timeout_s <= 0:
            raise ConfigError("mmsc.header_timeout_s, mmsc.body_timeout_s: positive numbers of seconds")
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise ConfigError(f"mmsc.public_url: an http:// or https:// URL, got {self.public_url!r}")
        if not self.renotify_s or any(s <= 0 for s in self.renotify_s):
            raise ConfigError(f"mmsc.renotify_s: a list of positive numbers of seconds, got {list(self.renotify_s)}")
        for key in ("ack_wait_s", "content_grace_s"):
            if getattr(self, key) < 0:
                raise ConfigError(f"mmsc.{key}: seconds, at least 0, got {getattr(self, key)}")

    def base_url(self, port: int | None = None) -> str:
        """Where phones reach the web side: `public_url`, or the listening address."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port if port is not None else self.port}"


SMS_KINDS = ("outbox", "smpp", "kannel")


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsConfig:
    """How WAP Pushes (the MMS notifications) reach phones."""

    kind: str = "outbox"
    outbox: str = "var/sms-outbox"
    smpp_host: str = ""
    smpp_port: int = 2775
    smpp_system_id: str = ""
    smpp_password: str = ""
    smpp_system_type: str = ""
    smpp_bind: str = "transceiver"
    smpp_source_addr: str = ""
    smpp_source_ton: int = 5
    smpp_source_npi: int = 0
    smpp_data_coding: int = 4
    smpp_registered_delivery: bool = True
    smpp_window: int = 10
    smpp_max_per_second: float = 50.0
    smpp_enquire_link_s: float = 30.0
    smpp_connect_timeout_s: float = 10.0
    smpp_response_timeout_s: float = 10.0
    smpp_reconnect_max_s: float = 60.0
    smpp_throttle_pause_s: float = 1.0
    kannel_mode: str = "sendsms"
    kannel_sendsms_url: str = ""
    kannel_username: str = ""
    kannel_password: str = ""
    kannel_sender: str = ""
    kannel_smsc_id: str = ""
    kannel_dlr: bool = True
    kannel_ppg_url: str = ""
    kannel_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.kind not in SMS_KINDS:
            raise ConfigError(f"sms.kind: one of {', '.join(SMS_KINDS)}, got {self.kind!r}")
        if self.kannel_mode not in ("sendsms", "ppg"):
            raise ConfigError(f'sms.kannel_mode: "sendsms" or "ppg", got {self.kannel_mode!r}')
        if self.kind == "kannel":
            key = "kannel_sendsms_url" if self.kannel_mode == "sendsms" else "kannel_ppg_url"
            url = getattr(self, key)
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"sms.{key}: an http:// or https:// URL, needed for kannel_mode {self.kannel_mode!r}")
        if self.kannel_timeout_s <= 0:
            raise ConfigError(f"sms.kannel_timeout_s: a positive number of seconds, got {self.kannel_timeout_s}")
        if self.kind == "smpp" and not (self.smpp_host and self.smpp_system_id):
            raise ConfigError('sms.smpp_host and sms.smpp_system_id: needed when sms.kind is "smpp"')
        if not 0 < self.smpp_port <= 65535:
            raise ConfigError(f"sms.smpp_port: 1..65535, got {self.smpp_port}")
        if self.smpp_bind not in ("transceiver", "transmitter"):
            raise ConfigError(f'sms.smpp_bind: "transceiver" or "transmitter", got {self.smpp_bind!r}')
        if self.smpp_data_coding not in (0x04, 0xF5):
            raise ConfigError(f"sms.smpp_data_coding: 4 (8-bit data) or 245 (0xF5), got {self.smpp_data_coding}")
        if len(self.smpp_system_id) > 15 or len(self.smpp_password) > 8 or len(self.smpp_system_type) > 12:
            raise ConfigError("sms.smpp_system_id, smpp_password, smpp_system_type: at most 15, 8, 12 characters")
        if len(self.smpp_source_addr) > 20:
            raise ConfigError(f"sms.smpp_source_addr: at most 20 characters, got {self.smpp_source_addr!r}")
        if self.smpp_window < 1 or self.smpp_max_per_second <= 0:
            raise ConfigError("sms.smpp_window: at least 1; sms.smpp_max_per_second: more than 0")
        for key in ("smpp_enquire_link_s", "smpp_connect_timeout_s", "smpp_response_timeout_s", "smpp_reconnect_max_s"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"sms.{key}: a positive number of seconds, got {getattr(self, key)}")


REPORT_KINDS = ("outbox", "relay")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportsConfig:
    kind: str = "outbox"
    outbox: str = "var/outbox"
    relay_host: str = ""
    relay_port: int = 25
    relay_timeout_s: float = 30.0
    relay_starttls: bool = False

    def __post_init__(self) -> None:
        if self.kind not in REPORT_KINDS:
            raise ConfigError(f"reports.kind: one of {', '.join(REPORT_KINDS)}, got {self.kind!r}")
        if self.kind == "relay" and not self.relay_host:
            raise ConfigError('reports.relay_host: needed when reports.kind is "relay"')


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole file. `routes` comes from `[[route]]` (a single `[route]` table is one route)."""

    log: LogConfig = LogConfig()
    decode: DecodeConfig = DecodeConfig()
    convert: ConvertConfig = ConvertConfig()
    smtp: SmtpConfig = SmtpConfig()
    store: StoreConfig = StoreConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    routes: tuple[RouteConfig, ...] = (RouteConfig(),)
    mmsc: MmscConfig = MmscConfig()
    admin: AdminConfig = AdminConfig()
    sms: SmsConfig = SmsConfig()
    reports: ReportsConfig = ReportsConfig()

    def __post_init__(self) -> None:
        if not self.routes:
            raise ConfigError("route: at least one [[route]]")
        names = [r.label for r in self.routes]
        for name in names:
            if names.count(name) > 1:
                raise ConfigError(f"route.name: {name!r} names two routes; give each a name of its own")
        for r in self.routes:
            if r.fallback and r.fallback not in names:
                raise ConfigError(f"route.fallback: no route named {r.fallback!r} (route {r.label!r})")
        if sum(r.kind == "builtin" for r in self.routes) > 1:
            raise ConfigError("route.kind: one builtin route at most (there is one builtin MMSC)")

    @property
    def route(self) -> RouteConfig:
        """The first route (what a configuration with one `[route]` means)."""
        return self.routes[0]


Section = type[
    LogConfig
    | DecodeConfig
    | ConvertConfig
    | SmtpConfig
    | StoreConfig
    | DeliveryConfig
    | RouteConfig
    | MmscConfig
    | AdminConfig
    | SmsConfig
    | ReportsConfig
]
_SECTIONS: dict[str, Section] = {
    "log": LogConfig,
    "decode": DecodeConfig,
    "convert": ConvertConfig,
    "smtp": SmtpConfig,
    "store": StoreConfig,
    "delivery": DeliveryConfig,
    "mmsc": MmscConfig,
    "admin": AdminConfig,
    "sms": SmsConfig,
    "reports": ReportsConfig,
}


def _build_section(name: str, cls: Section, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: a table of keys")
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        field = known.get(key)
        if field is None:
            raise ConfigError(f"{name}.{key}: unknown key (known: {', '.join(known)})")
        default = field.default
        expected = type(default)
        if isinstance(default, tuple) and default and isinstance(default[0], float):
            if not isinstance(value, list) or not all(type(v) in (int, float) for v in value):
                raise ConfigError(f"{name}.{key}: expected a list of numbers, got {value!r}")
            value = tuple(float(v) for v in value)
        elif expected is tuple:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{name}.{key}: expected a list of strings, got {value!r}")
            value = tuple(value)
        elif expected is float and type(value) is int:
            value = float(value)
        # bool is an int in Python; a config that says `max_input_bytes = true` is still wrong
        elif type(value) is not expected:
            raise ConfigError(f"{name}.{key}: expected {expected.__name__}, got {type(value).__name__} {value!r}")
        values[key] = value
    return cls(**values)


def parse_config(data: dict[str, Any]) -> Config:
    sections: dict[str, Any] = {}
    for name, raw in data.items():
        if name == "route":
            tables = raw if isinstance(raw, list) else [raw]
            sections["routes"] = tuple(_build_section("route", RouteConfig, table) for table in tables)
            continue
        cls = _SECTIONS.get(name)
        if cls is None:
            raise ConfigError(f"{name}: unknown section (known: {', '.join(_SECTIONS)}, route)")
        sections[name] = _build_section(name, cls, raw)
    return Config(**sections)


def load_config(path: Path | None) -> Config:
    """The configuration in `path`, or the embedded defaults when `path` is None."""
    if path is None:
        return Config()
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    try:
        return parse_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
