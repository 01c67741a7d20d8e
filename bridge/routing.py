"""Which route takes a phone number: the pure rule behind `[[route]]`.

A route lists E.164 prefixes; the longest prefix that matches the number wins, and a route without prefixes
takes every number no other route claims (the first such route, in the file's order). No I/O: the router
adapter (`bridge.adapters.mmsc.router`) and `bridge check-config --number` both ask this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteRule:
    name: str
    prefixes: tuple[str, ...] = ()
    fallback: str | None = None


def choose(rules: Sequence[RouteRule], e164: str) -> RouteRule | None:
    best: RouteRule | None = None
    best_length = -1
    for rule in rules:
        if not rule.prefixes:
            if best_length < 0 and best is None:
                best = rule  # the catch-all, unless a prefix matches
            continue
        for prefix in rule.prefixes:
            if e164.startswith(prefix) and len(prefix) > best_length:
                best, best_length = rule, len(prefix)
    return best
