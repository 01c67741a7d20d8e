"""`config.toml` -> frozen, typed configuration sections.

Owns the schema of the configuration file: each section is a frozen dataclass whose fields are the keys, with
their defaults. An unknown section or key, or a value of the wrong type or range, raises
`ConfigError("section.key: why")`, naming the file when one was read.
"""

from __future__ import annotations

import base64
import tomllib
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from bridge.codec.mm7 import MM7_RELEASES
from bridge.convert.profile import PROFILES
from bridge.errors import ConfigError

LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True, slots=True, kw_only=True)
class LogConfig:
    level: str = "info"
    #: "text" (one line per event) or "json" (one JSON object per line)
    format: str = "text"
    show_phone_numbers: bool = False

    def __post_init__(self) -> None:
        if self.level not in LOG_LEVELS:
            raise ConfigError(f"log.level: one of {', '.join(LOG_LEVELS)}, got {self.level!r}")
        if self.format not in ("text", "json"):
            raise ConfigError(f'log.format: "text" or "json", got {self.format!r}')


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

#: "default" and the OMA content classes, as `bridge.convert.profile` defines them
PROFILE_NAMES = ("default", *PROFILES)


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
    max_link_url_chars: int = 40
    media_time_limit_s: float = 20.0

    def __post_init__(self) -> None:
        if not 0 < self.media_time_limit_s <= 3600:
            raise ConfigError(
                f"convert.media_time_limit_s: seconds, more than 0 and at most 3600, got {self.media_time_limit_s}"
            )
        if self.max_link_url_chars < 0:
            raise ConfigError(f"convert.max_link_url_chars: 0 (never) or more, got {self.max_link_url_chars}")
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
    duplicate_window_s: float = 86_400.0
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
        if self.duplicate_window_s < 0:
            raise ConfigError(f"smtp.duplicate_window_s: 0 (off) or more seconds, got {self.duplicate_window_s}")
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
    """Where accepted mail waits: an SQLite file (one bridge) or a PostgreSQL database (one or several)."""

    url: str = "sqlite:///var/bridge.db"
    #: PostgreSQL: the most connections one bridge opens
    pool_size: int = 10

    def __post_init__(self) -> None:
        if not self.url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ConfigError(
                "store.url: sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE "
                f"(or postgresql:// and the PG* environment variables), got {self.url!r}"
            )
        if self.url.startswith("sqlite:///") and self.url == "sqlite:///":
            raise ConfigError("store.url: sqlite:/// needs a file path")
        if not 2 <= self.pool_size <= 200:
            raise ConfigError(f"store.pool_size: 2 to 200 connections, got {self.pool_size}")

    @property
    def is_postgresql(self) -> bool:
        return self.url.startswith(("postgresql://", "postgres://"))

    @property
    def postgresql_dsn(self) -> str:
        """The URL asyncpg takes: empty for a bare postgresql://, which then reads the PG* variables."""
        return "" if self.url in ("postgresql://", "postgres://") else self.url

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


#: the MM7 schema releases `bridge.codec.mm7` writes
MM7_RELEASE_NAMES = tuple(MM7_RELEASES)


class RouteKind(StrEnum):
    BUILTIN = "builtin"
    FOLDER = "folder"
    MM7 = "mm7"
    EAIF = "eaif"
    MM1 = "mm1"
    TWILIO = "twilio"
    TELNYX = "telnyx"
    BANDWIDTH = "bandwidth"


def _http_url(key: str, url: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{key}: the MMSC's http:// or https:// URL, got {url!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class MM7Settings:
    """`[route.mm7]`: an operator's MMSC over MM7 (3GPP TS 23.140), and its callbacks to /mm7/<route name>."""

    url: str = ""
    release: str = "REL-6-MM7-1-4"
    mm7_version: str = ""
    vasp_id: str = ""
    vas_id: str = ""
    sender_address: str = ""
    service_code: str = ""
    username: str = ""
    password: str = ""
    ca_file: str = ""
    timeout_s: float = 30.0
    delivery_report: bool = True
    allow_adaptations: bool = True
    #: after a SubmitReq went unanswered: the least wait before sending it again, and how many times in a row
    unknown_outcome_wait_s: float = 300.0
    unknown_outcome_resends: int = 1
    callback_username: str = ""
    callback_password: str = ""
    callback_allow: tuple[str, ...] = ()
    forward_to: str = ""

    def __post_init__(self) -> None:
        if self.release not in MM7_RELEASE_NAMES:
            raise ConfigError(f"route.mm7.release: one of {', '.join(MM7_RELEASE_NAMES)}, got {self.release!r}")
        if self.timeout_s <= 0:
            raise ConfigError(f"route.mm7.timeout_s: more than 0, got {self.timeout_s}")
        if self.unknown_outcome_wait_s < 0 or self.unknown_outcome_resends < 0:
            raise ConfigError("route.mm7.unknown_outcome_wait_s, route.mm7.unknown_outcome_resends: at least 0")
        if self.callback_username and not self.callback_password:
            raise ConfigError("route.mm7.callback_password: needed with callback_username")


@dataclass(frozen=True, slots=True, kw_only=True)
class EAIFSettings:
    """`[route.eaif]`: an operator's MMSC over Nokia's EAIF."""

    url: str = ""
    version: str = "3.0"
    sender_address: str = ""
    username: str = ""
    password: str = ""
    ca_file: str = ""
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.timeout_s <= 0:
            raise ConfigError(f"route.eaif.timeout_s: more than 0, got {self.timeout_s}")


@dataclass(frozen=True, slots=True, kw_only=True)
class MM1Settings:
    """`[route.mm1]`: an operator's MMSC reached as a handset would (MM1), through its WAP gateway."""

    url: str = ""
    proxy: str = ""
    username: str = ""
    password: str = ""
    ca_file: str = ""
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.proxy and not self.proxy.startswith(("http://", "https://")):
            raise ConfigError(f"route.mm1.proxy: an http:// URL, got {self.proxy!r}")
        if self.timeout_s <= 0:
            raise ConfigError(f"route.mm1.timeout_s: more than 0, got {self.timeout_s}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FolderSettings:
    """`[route.folder]`: each m-send-req written to `<folder>/<job id>.mms` (dry runs, tests)."""

    folder: str = "var/delivered"


def _e164_or_empty(key: str, number: str) -> None:
    if number and not (number.startswith("+") and number[1:].isdigit() and 6 <= len(number) - 1 <= 15):
        raise ConfigError(f'{key}: an E.164 number like "+15550100", got {number!r}')


@dataclass(frozen=True, slots=True, kw_only=True)
class TwilioSettings:
    """`[route.twilio]`: Twilio's Programmable Messaging (REST API 2010-04-01), and its status callbacks to
    /rest/<route name>/status."""

    base_url: str = "https://api.twilio.com"
    account_sid: str = ""
    #: the account's Auth Token: the Basic password, and the key of the callbacks' X-Twilio-Signature
    auth_token: str = ""
    #: an API key (SK…) and its secret to send with instead of the Auth Token
    api_key_sid: str = ""
    api_key_secret: str = ""
    from_number: str = ""
    messaging_service_sid: str = ""
    timeout_s: float = 30.0
    status_callbacks: bool = True

    def __post_init__(self) -> None:
        _http_url("route.twilio.base_url", self.base_url)
        if not (self.account_sid.startswith("AC") and len(self.account_sid) == 34):
            raise ConfigError(f"route.twilio.account_sid: AC and 32 hex digits, got {self.account_sid!r}")
        if not self.auth_token:
            raise ConfigError("route.twilio.auth_token: needed (it also checks the signature of status callbacks)")
        if bool(self.api_key_sid) != bool(self.api_key_secret):
            raise ConfigError("route.twilio.api_key_sid and api_key_secret: both or neither")
        if not (self.from_number or self.messaging_service_sid):
            raise ConfigError("route.twilio.from_number or messaging_service_sid: one is needed")
        _e164_or_empty("route.twilio.from_number", self.from_number)
        if self.timeout_s <= 0:
            raise ConfigError(f"route.twilio.timeout_s: more than 0, got {self.timeout_s}")


@dataclass(frozen=True, slots=True, kw_only=True)
class TelnyxSettings:
    """`[route.telnyx]`: Telnyx's Messaging API v2, and its signed webhooks to /rest/<route name>/status."""

    base_url: str = "https://api.telnyx.com/v2"
    api_key: str = ""
    from_number: str = ""
    messaging_profile_id: str = ""
    #: the account's Ed25519 public key (base64, from the portal) that signs webhooks
    public_key: str = ""
    #: a webhook whose telnyx-timestamp is further than this from our clock is refused (a replay)
    max_webhook_age_s: float = 300.0
    timeout_s: float = 30.0
    status_callbacks: bool = True

    def __post_init__(self) -> None:
        _http_url("route.telnyx.base_url", self.base_url)
        if not self.api_key:
            raise ConfigError("route.telnyx.api_key: needed (the Bearer key of the Telnyx account)")
        if not (self.from_number or self.messaging_profile_id):
            raise ConfigError("route.telnyx.from_number or messaging_profile_id: one is needed")
        _e164_or_empty("route.telnyx.from_number", self.from_number)
        if self.status_callbacks and not self.public_key:
            # fail closed: unsigned webhooks could end anyone's jobs
            raise ConfigError("route.telnyx.public_key: needed to check webhooks (or status_callbacks = false)")
        if self.public_key:
            try:
                key = base64.b64decode(self.public_key, validate=True)
            except ValueError:
                key = b""
            if len(key) != 32:
                raise ConfigError("route.telnyx.public_key: the base64 of a 32-byte Ed25519 public key")
        if self.timeout_s <= 0 or self.max_webhook_age_s <= 0:
            raise ConfigError("route.telnyx.timeout_s, route.telnyx.max_webhook_age_s: more than 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class BandwidthSettings:
    """`[route.bandwidth]`: Bandwidth's Messaging API v2 (media uploaded first), and its status callbacks to
    /rest/<route name>/status with the Basic credentials set on the Bandwidth application."""

    base_url: str = "https://messaging.bandwidth.com/api/v2"
    account_id: str = ""
    application_id: str = ""
    from_number: str = ""
    #: HTTP Basic as the API user, or OAuth2 client credentials (client_id/client_secret at token_url)
    username: str = ""
    password: str = ""
    client_id: str = ""
    client_secret: str = ""
    token_url: str = "https://api.bandwidth.com/api/v1/oauth2/token"
    callback_username: str = ""
    callback_password: str = ""
    timeout_s: float = 30.0
    status_callbacks: bool = True

    def __post_init__(self) -> None:
        _http_url("route.bandwidth.base_url", self.base_url)
        _http_url("route.bandwidth.token_url", self.token_url)
        if not (self.account_id and self.application_id and self.from_number):
            raise ConfigError("route.bandwidth.account_id, application_id and from_number: all are needed")
        _e164_or_empty("route.bandwidth.from_number", self.from_number)
        if bool(self.username) == bool(self.client_id):
            raise ConfigError("route.bandwidth: username/password or client_id/client_secret, one of the two")
        if (self.username and not self.password) or (self.client_id and not self.client_secret):
            raise ConfigError("route.bandwidth.password or client_secret: needed with username or client_id")
        if self.status_callbacks and not (self.callback_username and self.callback_password):
            raise ConfigError(
                "route.bandwidth.callback_username and callback_password: needed to check status callbacks "
                "(set the same on the Bandwidth application), or status_callbacks = false"
            )
        if self.timeout_s <= 0:
            raise ConfigError(f"route.bandwidth.timeout_s: more than 0, got {self.timeout_s}")


RestSettings = TwilioSettings | TelnyxSettings | BandwidthSettings

#: the table of each route kind's own settings (`[route.<kind>]`)
ROUTE_SETTINGS: dict[RouteKind, type[MM7Settings | EAIFSettings | MM1Settings | FolderSettings | RestSettings]] = {
    RouteKind.MM7: MM7Settings,
    RouteKind.EAIF: EAIFSettings,
    RouteKind.MM1: MM1Settings,
    RouteKind.FOLDER: FolderSettings,
    RouteKind.TWILIO: TwilioSettings,
    RouteKind.TELNYX: TelnyxSettings,
    RouteKind.BANDWIDTH: BandwidthSettings,
}
#: `[[route]] fallback_sms` values
FALLBACK_SMS = ("off", "on-failure", "always")
#: the REST kinds, whose settings are required (no usable default) and whose default budget is their own profile
REST_KINDS = frozenset({RouteKind.TWILIO, RouteKind.TELNYX, RouteKind.BANDWIDTH})


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteConfig:
    """One `[[route]]`: which recipients it takes; its kind's own settings in `[route.<kind>]`."""

    name: str = ""
    kind: RouteKind = RouteKind.BUILTIN
    prefixes: tuple[str, ...] = ()
    fallback: str = ""
    profile: str = ""
    max_per_second: float = 0.0
    #: "off", "on-failure" (the route refuses the content, or the phone never fetched before expiry), "always":
    #: then one plain SMS with a link to the message's page (/v/<token>) goes instead of the MMS
    fallback_sms: str = "off"
    #: numbers (E.164 prefixes) listed as taking no MMS: with fallback_sms on, they get the SMS with a link at once
    sms_only_prefixes: tuple[str, ...] = ()
    mm7: MM7Settings = MM7Settings()
    eaif: EAIFSettings = EAIFSettings()
    mm1: MM1Settings = MM1Settings()
    folder: FolderSettings = FolderSettings()
    twilio: TwilioSettings | None = None
    telnyx: TelnyxSettings | None = None
    bandwidth: BandwidthSettings | None = None

    @property
    def label(self) -> str:
        return self.name or self.kind

    @property
    def budget(self) -> str:
        """The profile this route's messages are fitted to: its own, else a REST kind's documented limits, else
        "" (`[convert]`)."""
        return self.profile or (self.kind.value if self.kind in REST_KINDS else "")

    @property
    def rest(self) -> RestSettings:
        """The settings of a REST kind (twilio, telnyx, bandwidth)."""
        settings = getattr(self, self.kind.value)
        assert isinstance(settings, TwilioSettings | TelnyxSettings | BandwidthSettings)
        return settings

    def __post_init__(self) -> None:
        where = f"route {self.label!r}"
        try:
            object.__setattr__(self, "kind", RouteKind(self.kind))
        except ValueError:
            kinds = ", ".join(k.value for k in RouteKind)
            raise ConfigError(f"route.kind: one of {kinds}, got {self.kind!r} ({where})") from None
        # the table of the route's own kind is the one read; the others may stand documented beside it
        settings = getattr(self, self.kind.value, None) if self.kind in ROUTE_SETTINGS else None
        if isinstance(settings, MM7Settings | EAIFSettings | MM1Settings):
            _http_url(f"route.{self.kind.value}.url", settings.url)
        if self.kind in REST_KINDS and settings is None:
            raise ConfigError(f"route.{self.kind.value}: the table of the route's credentials is needed ({where})")
        open_callbacks = isinstance(settings, MM7Settings) and not (
            settings.callback_username or settings.callback_allow
        )
        if open_callbacks and isinstance(settings, MM7Settings) and settings.delivery_report:
            # fail closed: anyone reaching /mm7/<name> could otherwise fail jobs with a forged report
            raise ConfigError(
                "route.mm7.callback_username: a route with delivery_report takes the MMSC's reports at "
                f"/mm7/{self.label}; set callback_username and callback_password, or callback_allow ({where})"
            )
        for key in ("prefixes", "sms_only_prefixes"):
            for prefix in getattr(self, key):
                if not (prefix.startswith("+") and prefix[1:].isdigit()):
                    raise ConfigError(f'route.{key}: E.164 prefixes like "+1555", got {prefix!r} ({where})')
        if self.max_per_second < 0:
            raise ConfigError(f"route.max_per_second: 0 (no limit) or more ({where})")
        if self.fallback_sms not in FALLBACK_SMS:
            raise ConfigError(
                f"route.fallback_sms: one of {', '.join(FALLBACK_SMS)}, got {self.fallback_sms!r} ({where})"
            )
        if self.fallback_sms != "off" and self.kind not in (RouteKind.BUILTIN, *REST_KINDS):
            raise ConfigError(
                f"route.fallback_sms: a {self.kind.value} route sends no SMS; builtin and REST routes do ({where})"
            )
        if self.profile and self.profile not in PROFILE_NAMES:
            raise ConfigError(f'route.profile: "" or one of {", ".join(PROFILE_NAMES)}, got {self.profile!r} ({where})')
        if self.fallback and self.fallback == self.label:
            raise ConfigError(f"route.fallback: a route cannot fall back to itself ({where})")


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminConfig:
    """The web server's admin listener, for operators: `/metrics`, `/healthz`, `/readyz` (`adapters/web/ops.py`),
    and the console (`adapters/web/console.py`) when `users_file` names who may log in."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8089
    users_file: str = ""
    session_secret_file: str = ""
    session_lifetime_s: float = 28_800.0
    secure_cookies: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"admin.port: 0..65535, got {self.port}")
        if not 60 <= self.session_lifetime_s <= 30 * 86_400:
            raise ConfigError(f"admin.session_lifetime_s: 60 s to 30 days, got {self.session_lifetime_s}")


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


class SmsKind(StrEnum):
    OUTBOX = "outbox"
    SMPP = "smpp"
    KANNEL = "kannel"


@dataclass(frozen=True, slots=True, kw_only=True)
class SMPPSettings:
    """`[sms.smpp]`: the SMSC the ESME binds to (SMPP 3.4)."""

    host: str = ""
    port: int = 2775
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    #: "transceiver" (receipts come back on the same session) or "transmitter"
    bind: str = "transceiver"
    source_addr: str = ""
    source_addr_ton: int = 5
    source_addr_npi: int = 0
    data_coding: int = 0x04
    registered_delivery: bool = True
    window: int = 10
    max_per_second: float = 50.0
    enquire_link_s: float = 30.0
    connect_timeout_s: float = 10.0
    response_timeout_s: float = 10.0
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    throttle_pause_s: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.port <= 65535:
            raise ConfigError(f"sms.smpp.port: 1..65535, got {self.port}")
        if self.bind not in ("transceiver", "transmitter"):
            raise ConfigError(f'sms.smpp.bind: "transceiver" or "transmitter", got {self.bind!r}')
        if self.data_coding not in (0x04, 0xF5):
            raise ConfigError(f"sms.smpp.data_coding: 4 (8-bit data) or 245 (0xF5), got {self.data_coding}")
        if len(self.system_id) > 15 or len(self.password) > 8 or len(self.system_type) > 12:
            raise ConfigError("sms.smpp.system_id, password, system_type: at most 15, 8, 12 characters")
        if len(self.source_addr) > 20:
            raise ConfigError(f"sms.smpp.source_addr: at most 20 characters, got {self.source_addr!r}")
        if self.window < 1 or self.max_per_second <= 0:
            raise ConfigError("sms.smpp.window: at least 1; sms.smpp.max_per_second: more than 0")
        for key in ("enquire_link_s", "connect_timeout_s", "response_timeout_s", "reconnect_min_s", "reconnect_max_s"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"sms.smpp.{key}: a positive number of seconds, got {getattr(self, key)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class KannelSettings:
    """`[sms.kannel]`: Kannel's sendsms interface or its push proxy gateway."""

    #: "sendsms" or "ppg"
    mode: str = "sendsms"
    sendsms_url: str = ""
    username: str = ""
    password: str = ""
    sender: str = ""
    smsc_id: str = ""
    #: ask for delivery reports of the notification SMS (Kannel calls the public listener's /sms/dlr)
    dlr: bool = True
    #: phones' messages through Kannel: its sms-service calls the public listener's /sms/mo with this key ("" off)
    mo_key: str = ""
    ppg_url: str = ""
    #: the host part of the PAP address (WAPPUSH=<number>/TYPE=PLMN@<host>); Kannel does not read it
    ppg_address_host: str = "ppg.invalid"
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.mode not in ("sendsms", "ppg"):
            raise ConfigError(f'sms.kannel.mode: "sendsms" or "ppg", got {self.mode!r}')
        if self.timeout_s <= 0:
            raise ConfigError(f"sms.kannel.timeout_s: a positive number of seconds, got {self.timeout_s}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SmsConfig:
    """How WAP Pushes (the MMS notifications) reach phones; each transport's settings in `[sms.<kind>]`."""

    kind: SmsKind = SmsKind.OUTBOX
    outbox: str = "var/sms-outbox"
    smpp: SMPPSettings = SMPPSettings()
    kannel: KannelSettings = KannelSettings()

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", SmsKind(self.kind))
        except ValueError:
            raise ConfigError(f"sms.kind: one of {', '.join(k.value for k in SmsKind)}, got {self.kind!r}") from None
        # the table of the chosen transport is the one read; the others may stand documented beside it
        if self.kind is SmsKind.SMPP and not (self.smpp.host and self.smpp.system_id):
            raise ConfigError('sms.smpp.host and sms.smpp.system_id: needed for kind "smpp" (a [sms.smpp] table)')
        if self.kind is SmsKind.KANNEL:
            key = "sendsms_url" if self.kannel.mode == "sendsms" else "ppg_url"
            if not getattr(self.kannel, key).startswith(("http://", "https://")):
                raise ConfigError(f'sms.kannel.{key}: an http:// or https:// URL, needed for kind "kannel"')


class ReportKind(StrEnum):
    OUTBOX = "outbox"
    RELAY = "relay"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportsConfig:
    kind: ReportKind = ReportKind.OUTBOX
    outbox: str = "var/outbox"
    relay_host: str = ""
    relay_port: int = 25
    relay_timeout_s: float = 30.0
    relay_starttls: bool = False
    notify_changes: bool = True

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", ReportKind(self.kind))
        except ValueError:
            kinds = ", ".join(k.value for k in ReportKind)
            raise ConfigError(f"reports.kind: one of {kinds}, got {self.kind!r}") from None
        if self.kind is ReportKind.RELAY and not self.relay_host:
            raise ConfigError('reports.relay_host: needed when reports.kind is "relay"')


@dataclass(frozen=True, slots=True, kw_only=True)
class RepliesConfig:
    """`[replies]`: phones' answers (SMS over SMPP or Kannel, MMS over MM7, the REST providers' inbound messages)
    as mails to whoever last wrote to the number (`bridge/replies.py`)."""

    enabled: bool = True
    #: a reply goes to an address that wrote to the number at most this long ago
    window_s: float = 7 * 86_400.0
    #: where replies from numbers with no conversation go ("" refuses them)
    forward_to: str = ""
    #: at most this many replies per number in an hour (0: no limit)
    max_per_hour: int = 30

    def __post_init__(self) -> None:
        if self.window_s <= 0:
            raise ConfigError(f"replies.window_s: a positive number of seconds, got {self.window_s}")
        if self.max_per_hour < 0:
            raise ConfigError(f"replies.max_per_hour: 0 (no limit) or more, got {self.max_per_hour}")
        if self.forward_to and ("@" not in self.forward_to or any(c in self.forward_to for c in "\r\n\0 <>")):
            raise ConfigError(f"replies.forward_to: one mail address, got {self.forward_to!r}")


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
    replies: RepliesConfig = RepliesConfig()

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
        if sum(r.kind is RouteKind.BUILTIN for r in self.routes) > 1:
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
    | RepliesConfig
    | MM7Settings
    | EAIFSettings
    | MM1Settings
    | FolderSettings
    | TwilioSettings
    | TelnyxSettings
    | BandwidthSettings
    | SMPPSettings
    | KannelSettings
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
    "replies": RepliesConfig,
}


def _known_keys(name: str, cls: Section, raw: Any) -> None:
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: a table of keys")
    known = [f.name for f in fields(cls)]
    for key in raw:
        if key not in known:
            raise ConfigError(f"{name}.{key}: unknown key (known: {', '.join(known)})")


def _build_section(name: str, cls: Section, raw: Any) -> Any:
    _known_keys(name, cls, raw)
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        default = known[key].default
        expected = type(default)
        if isinstance(default, StrEnum):
            expected = str  # checked against its values by the section itself
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


#: keys of the layout before per-kind tables, and where each one is now
MOVED_ROUTE_KEYS = {
    "url": "[route.<kind>] url",
    "username": "[route.<kind>] username",
    "password": "[route.<kind>] password",
    "ca_file": "[route.<kind>] ca_file",
    "timeout_s": "[route.<kind>] timeout_s",
    "proxy": "[route.mm1] proxy",
    "folder": "[route.folder] folder",
    "mm7_release": "[route.mm7] release",
    "mm7_version": "[route.mm7] mm7_version",
    "vasp_id": "[route.mm7] vasp_id",
    "vas_id": "[route.mm7] vas_id",
    "sender_address": "[route.mm7] or [route.eaif] sender_address",
    "service_code": "[route.mm7] service_code",
    "delivery_report": "[route.mm7] delivery_report",
    "allow_adaptations": "[route.mm7] allow_adaptations",
    "eaif_version": "[route.eaif] version",
    "unknown_outcome_wait_s": "[route.mm7] unknown_outcome_wait_s",
    "unknown_outcome_resends": "[route.mm7] unknown_outcome_resends",
    "callback_username": "[route.mm7] callback_username",
    "callback_password": "[route.mm7] callback_password",
    "callback_allow": "[route.mm7] callback_allow",
    "forward_to": "[route.mm7] forward_to",
}
MOVED_SMS_KEYS = {
    **{f"smpp_{k}": f"[sms.smpp] {k}" for k in (f.name for f in fields(SMPPSettings))},
    "smpp_source_ton": "[sms.smpp] source_addr_ton",
    "smpp_source_npi": "[sms.smpp] source_addr_npi",
    **{f"kannel_{k}": f"[sms.kannel] {k}" for k in (f.name for f in fields(KannelSettings))},
}


def _moved(section: str, table: dict[str, Any], moved: dict[str, str]) -> None:
    """A table written for the layout before per-kind tables: say, for each old key, where it went."""
    old = [key for key in table if key in moved and not isinstance(table[key], dict)]
    if old:
        where = "; ".join(f"{section}.{key} -> {moved[key]}" for key in old)
        raise ConfigError(f"{section}: keys of the old layout, moved to the kind's own table: {where}")


def _route(table: Any) -> RouteConfig:
    if not isinstance(table, dict):
        raise ConfigError("route: a table of keys")
    _moved("route", table, MOVED_ROUTE_KEYS)
    kinds = {k.value for k in ROUTE_SETTINGS}
    top = {k: v for k, v in table.items() if k not in kinds}
    chosen = top.get("kind", RouteKind.BUILTIN)
    nested = {}
    for kind in kinds:
        if kind not in table:
            continue
        if RouteKind(kind) in REST_KINDS and kind != chosen:
            # the credentials of another kind, left as documentation: their keys are checked, not their values
            _known_keys(f"route.{kind}", ROUTE_SETTINGS[RouteKind(kind)], table[kind])
            continue
        nested[kind] = _build_section(f"route.{kind}", ROUTE_SETTINGS[RouteKind(kind)], table[kind])
    # the top keys' types first, as a builtin route; the kind and its own table are checked together after
    base = _build_section("route", RouteConfig, top | {"kind": "builtin"})
    values = {f.name: getattr(base, f.name) for f in fields(RouteConfig)}
    return RouteConfig(**{**values, **nested, "kind": chosen})


def _sms(table: Any) -> SmsConfig:
    if not isinstance(table, dict):
        raise ConfigError("sms: a table of keys")
    _moved("sms", table, MOVED_SMS_KEYS)
    nested: dict[str, Any] = {}
    if "smpp" in table:
        nested["smpp"] = _build_section("sms.smpp", SMPPSettings, table["smpp"])
    if "kannel" in table:
        nested["kannel"] = _build_section("sms.kannel", KannelSettings, table["kannel"])
    top = {k: v for k, v in table.items() if k not in nested}
    base = _build_section("sms", SmsConfig, top | {"kind": "outbox"})  # the keys' types; the kind is checked below
    return SmsConfig(kind=top.get("kind", SmsKind.OUTBOX), outbox=base.outbox, **nested)


def parse_config(data: dict[str, Any]) -> Config:
    sections: dict[str, Any] = {}
    for name, raw in data.items():
        if name == "route":
            tables = raw if isinstance(raw, list) else [raw]
            sections["routes"] = tuple(_route(table) for table in tables)
            continue
        if name == "sms":
            sections["sms"] = _sms(raw)
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
