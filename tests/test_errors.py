"""One exception tree and one verdict type: every exception class of the bridge is defined in `bridge.errors`
under `BridgeError`, and every route and transport classifies its peer's answers as a `Verdict` with an RFC
3463 status, turned into the matching exception by `failure()`."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import bridge
from bridge.adapters.mmsc.mm1 import response_verdict
from bridge.adapters.sms.kannel import pap_verdict
from bridge.codec import mm7
from bridge.codec.mms import ResponseStatus
from bridge.codec.smpp import CommandStatus, submit_verdict
from bridge.errors import BridgeError, PermanentFailure, TemporaryFailure, Verdict, failure


def test_every_exception_class_is_in_the_tree_and_in_errors() -> None:
    outside = []
    for info in pkgutil.walk_packages(bridge.__path__, "bridge."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == info.name:
                if info.name != "bridge.errors" and not name.startswith("_"):
                    outside.append(f"{info.name}.{name}")
                elif not issubclass(obj, BridgeError):
                    outside.append(f"{info.name}.{name} (not a BridgeError)")
    assert not outside, outside


@pytest.mark.parametrize(
    ("verdict", "status"),
    [
        (response_verdict(0x80), (Verdict.SUCCESS, "2.0.0")),
        (response_verdict(0xC3), (Verdict.TEMPORARY, "4.4.2")),
        (response_verdict(ResponseStatus.ERROR_PERMANENT_SENDING_ADDRESS_UNRESOLVED), (Verdict.PERMANENT, "5.1.1")),
        (submit_verdict(CommandStatus.ESME_ROK), (Verdict.SUCCESS, "2.0.0")),
        (submit_verdict(CommandStatus.ESME_RINVDSTADR), (Verdict.PERMANENT, "5.1.1")),
        (submit_verdict(CommandStatus.ESME_RINVMSGLEN), (Verdict.PERMANENT, "5.3.0")),
        (submit_verdict(CommandStatus.ESME_RTHROTTLED), (Verdict.TEMPORARY, "4.4.2")),
        (pap_verdict(1001), (Verdict.SUCCESS, "2.0.0")),
        (pap_verdict(2002), (Verdict.PERMANENT, "5.1.1")),
        (pap_verdict(2001), (Verdict.PERMANENT, "5.3.0")),
        (pap_verdict(3000), (Verdict.TEMPORARY, "4.4.2")),
        (mm7.classify(1000), (Verdict.SUCCESS, "2.0.0")),
        (mm7.classify(4006), (Verdict.TEMPORARY, "4.3.2")),
    ],
)
def test_each_peer_answer_has_one_verdict_shape(verdict: tuple[Verdict, str], status: tuple[Verdict, str]) -> None:
    assert verdict == status


def test_failure_gives_the_exception_of_the_verdict() -> None:
    assert isinstance(failure(Verdict.PERMANENT, "no", "5.1.1"), PermanentFailure)
    temporary = failure(Verdict.TEMPORARY, "later", "4.4.2")
    assert isinstance(temporary, TemporaryFailure) and (temporary.detail, temporary.status) == ("later", "4.4.2")
