"""The credentials the fakes accept by default, by label: the secret scan looks for them
in everything the suite sees (tests/conftest.py registers them)."""

from __future__ import annotations

from tests.support.fakes.akool_server import DEFAULT_API_KEY as AKOOL_KEY
from tests.support.fakes.akool_server import DEFAULT_CLIENT_CREDENTIAL as AKOOL_SECRET
from tests.support.fakes.llm_server import DEFAULT_API_KEY as LLM_KEY
from tests.support.fakes.tool_server import DEFAULT_SECRET as TOOL_SECRET

FAKE_SECRETS = {
    AKOOL_KEY: "AKool API key (fake)",
    AKOOL_SECRET: "AKool client secret (fake)",
    LLM_KEY: "LLM API key (fake)",
    TOOL_SECRET: "A tool's signing secret (fake)",
}
