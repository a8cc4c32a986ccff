"""The network settings (avatarsite/network_settings.py): their defaults, and a refusal to
start, naming the setting, for a name that is not a network. Each case imports the settings
in a fresh interpreter (tests/test_settings.py's probe)."""

from __future__ import annotations

import pytest

from tests.test_settings import refused, started

NAMES = ("AKOOL_STREAM_TYPE", "AKOOL_NETWORKS", "AKOOL_FALLBACK", "SANDBOX_UNREACHABLE_NETWORKS")


def test_the_defaults_stream_on_agora_alone_and_offer_no_other():
    assert started({}, *NAMES) == {
        "AKOOL_STREAM_TYPE": "agora",
        "AKOOL_NETWORKS": ["agora"],
        "AKOOL_FALLBACK": "offer",
        "SANDBOX_UNREACHABLE_NETWORKS": [],
    }


def test_the_networks_default_to_the_chosen_stream_type():
    values = started({"AKOOL_STREAM_TYPE": "TRTC"}, *NAMES)

    assert (values["AKOOL_STREAM_TYPE"], values["AKOOL_NETWORKS"]) == ("trtc", ["trtc"])


def test_it_reads_every_network_setting_from_the_environment():
    env = {
        "AKOOL_STREAM_TYPE": "livekit",
        "AKOOL_NETWORKS": "livekit, agora,livekit,trtc",
        "AKOOL_FALLBACK": "auto",
        "SANDBOX_UNREACHABLE_NETWORKS": "livekit",
    }

    assert started(env, *NAMES) == {
        "AKOOL_STREAM_TYPE": "livekit",
        "AKOOL_NETWORKS": ["livekit", "agora", "trtc"],  # once each, in order
        "AKOOL_FALLBACK": "auto",
        "SANDBOX_UNREACHABLE_NETWORKS": ["livekit"],
    }


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"AKOOL_STREAM_TYPE": "webrtc"}, "AKOOL_STREAM_TYPE: not a network: webrtc"),
        ({"AKOOL_NETWORKS": "agora,zoom"}, "AKOOL_NETWORKS: not a network: zoom"),
        (
            {"SANDBOX_UNREACHABLE_NETWORKS": "agora,x"},
            "SANDBOX_UNREACHABLE_NETWORKS: not a network: x",
        ),
        ({"AKOOL_NETWORKS": " , "}, "AKOOL_NETWORKS is empty"),
        ({"AKOOL_FALLBACK": "sometimes"}, "AKOOL_FALLBACK must be"),
    ],
)
def test_an_unknown_name_refuses_to_start(env, named):
    message = refused(env)

    assert named in message
