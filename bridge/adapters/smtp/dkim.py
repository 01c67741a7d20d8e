"""DKIM verification of incoming mail with dkimpy, per sender-domain policy, keys looked up with dnspython.

Policies: `off` (not checked), `verify` (checked, the verdict recorded), `require` (a mail without a valid
signature by the sender's domain, or a parent of it, is refused). dkimpy and dnspython exceptions are
verdicts (`fail`, `temperror`), never crashes; a DNS outage under `require` is a temporary refusal.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import dkim
import dns.exception
import dns.resolver


@dataclass(frozen=True, slots=True, kw_only=True)
class DkimVerdict:
    result: str  # pass, fail, none, temperror, skipped
    domain: str
    reject: bool = False

    @property
    def header(self) -> str:
        """The Authentication-Results method clause (RFC 8601)."""
        if self.result == "skipped":
            return "dkim=none (not checked by policy)"
        return f"dkim={self.result} header.d={self.domain or 'none'}"


def _matches(domain: str, listed: tuple[str, ...]) -> bool:
    return "*" in listed or any(domain == d or domain.endswith("." + d) for d in listed)


class DkimChecker:
    def __init__(
        self,
        *,
        verify_domains: tuple[str, ...],
        require_domains: tuple[str, ...],
        nameservers: tuple[str, ...] = (),
        port: int = 53,
        timeout_s: float = 5.0,
    ) -> None:
        self.verify_domains = tuple(d.lower() for d in verify_domains)
        self.require_domains = tuple(d.lower() for d in require_domains)
        self.resolver = dns.resolver.Resolver(configure=not nameservers)
        if nameservers:
            self.resolver.nameservers = list(nameservers)
        self.resolver.port = port
        self.resolver.lifetime = timeout_s
        self.timeout_s = timeout_s

    def policy(self, sender: str) -> str:
        domain = sender.rpartition("@")[2].lower()
        if domain and _matches(domain, self.require_domains):
            return "require"
        if domain and _matches(domain, self.verify_domains):
            return "verify"
        return "off"

    def _txt(self, name: bytes | str, timeout: float = 5.0) -> bytes | None:
        qname = name.decode() if isinstance(name, bytes) else name
        try:
            answer = self.resolver.resolve(qname, "TXT", lifetime=min(timeout, self.timeout_s))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        for rdata in answer:
            return b"".join(rdata.strings)
        return None

    def _verify(self, raw: bytes, sender_domain: str) -> str:
        try:
            signer = dkim.DKIM(raw)
            count = len([h for h in signer.headers if h[0].lower() == b"dkim-signature"])
            if count == 0:
                return "none"
            for idx in range(count):
                if signer.verify(idx=idx, dnsfunc=self._txt):
                    domain = (signer.domain or b"").decode("ascii", "replace").lower()
                    if sender_domain == domain or sender_domain.endswith("." + domain):
                        return "pass"
            return "fail"
        except dns.exception.DNSException:
            return "temperror"
        except dkim.DKIMException:
            return "fail"

    async def check(self, raw: bytes, sender: str) -> DkimVerdict:
        domain = sender.rpartition("@")[2].lower()
        policy = self.policy(sender)
        if policy == "off":
            return DkimVerdict(result="skipped", domain=domain)
        result = await asyncio.to_thread(self._verify, raw, domain)
        return DkimVerdict(result=result, domain=domain, reject=policy == "require" and result != "pass")
