"""What a preset's knowledge base gives a session: its upstream id at create, and, in
own-LLM sessions, its instructions in the operator's LLM's system prompt and its opening
line (which AKool's knowledge base says in dialogue only)."""

from __future__ import annotations

from sessions.knowledge_models import KnowledgeBase
from sessions.models import AvatarPreset


async def upstream_id(preset: AvatarPreset) -> str:
    """The upstream id of the preset's knowledge base (sent as `knowledge_id`), or ""."""
    if preset.knowledge_id is None:
        return ""
    found = (
        await KnowledgeBase.objects.filter(pk=preset.knowledge_id)
        .values_list("knowledge_id", flat=True)
        .afirst()
    )
    return found or ""


def system_prompt(preset: AvatarPreset | None) -> str:
    """The preset's system prompt for our LLM, followed by its knowledge base's
    instructions (as AKool's own LLM would follow them). The preset must come with its
    knowledge base loaded (select_related("preset__knowledge"))."""
    if preset is None:
        return ""
    knowledge = preset.knowledge if preset.knowledge_id is not None else None
    parts = [preset.system_prompt.strip(), knowledge.prompt.strip() if knowledge else ""]
    return "\n\n".join(part for part in parts if part)


def opening_line(preset: AvatarPreset | None) -> str:
    """The knowledge base's opening line, said first in an own-LLM session (loaded as for
    `system_prompt`), or ""."""
    if preset is None or preset.knowledge_id is None:
        return ""
    return preset.knowledge.prologue.strip()
