"""Import avatars, voices and knowledge bases from the provider's catalog.

New entries become presets; on a refresh, what staff edited (name, order, active,
defaults, prompts) is kept, and only what comes from upstream and was left empty is
filled in.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.text import slugify

from sessions.knowledge_models import KnowledgeBase
from sessions.models import AvatarPreset, VoicePreset
from sessions.providers import get_provider


@dataclass
class SyncResult:
    avatars_created: int = 0
    avatars_updated: int = 0
    voices_created: int = 0
    voices_updated: int = 0
    knowledge_created: int = 0
    knowledge_updated: int = 0

    def __str__(self) -> str:
        return (
            f"avatars: {self.avatars_created} new, {self.avatars_updated} refreshed; "
            f"voices: {self.voices_created} new, {self.voices_updated} refreshed; "
            f"knowledge bases: {self.knowledge_created} new, {self.knowledge_updated} refreshed"
        )


def _unique_slug(model: type, base: str, upstream_id: str) -> str:
    slug = (slugify(base) or "item")[:40]
    if not model.objects.filter(slug=slug).exists():
        return slug
    return f"{slug}-{slugify(upstream_id)}"[:50]


async def sync_catalog() -> SyncResult:
    from asgiref.sync import sync_to_async

    provider = get_provider()
    avatars = await provider.list_avatars()
    voices = await provider.list_voices()
    bases = await provider.list_knowledge()
    result = await sync_to_async(_apply)(avatars, voices)
    await sync_to_async(_apply_knowledge)(bases, result)
    return result


def _apply_knowledge(bases: list, result: SyncResult) -> None:
    """New knowledge bases become ours (source "imported"); a known one keeps what staff
    edited and gets only what it lacks (its opening line, instructions, documents)."""
    for base in bases:
        row = KnowledgeBase.objects.filter(knowledge_id=base.knowledge_id).first()
        if row is None:
            KnowledgeBase.objects.create(
                name=base.name[:100],
                knowledge_id=base.knowledge_id[:200],
                prologue=base.prologue[:100],
                prompt=base.prompt[:10000],
                doc_urls=list(base.doc_urls),
                source=KnowledgeBase.Source.IMPORTED,
            )
            result.knowledge_created += 1
            continue
        upstream = {"prologue": base.prologue[:100], "prompt": base.prompt[:10000]}
        upstream["doc_urls"] = list(base.doc_urls)
        changed = [k for k, v in upstream.items() if v and not getattr(row, k)]
        for name in changed:
            setattr(row, name, upstream[name])
        if changed:
            row.save(update_fields=[*changed, "updated_at"])
            result.knowledge_updated += 1


def _apply(avatars: list, voices: list) -> SyncResult:
    result = SyncResult()
    for voice in voices:
        preset = VoicePreset.objects.filter(voice_id=voice.voice_id).first()
        if preset is None:
            VoicePreset.objects.create(
                slug=_unique_slug(VoicePreset, voice.name, voice.voice_id),
                name=voice.name[:100] or voice.voice_id[:100],
                voice_id=voice.voice_id,
                language=voice.language[:20],
                gender=voice.gender[:20],
                preview_url=voice.preview_url[:1000],
            )
            result.voices_created += 1
        elif not preset.preview_url and voice.preview_url:
            preset.preview_url = voice.preview_url[:1000]
            preset.save(update_fields=["preview_url"])
            result.voices_updated += 1
    for avatar in avatars:
        preset = AvatarPreset.objects.filter(avatar_id=avatar.avatar_id).first()
        default_voice = (
            VoicePreset.objects.filter(voice_id=avatar.voice_id).first()
            if avatar.voice_id
            else None
        )
        if preset is None:
            AvatarPreset.objects.create(
                slug=_unique_slug(AvatarPreset, avatar.name, avatar.avatar_id),
                name=avatar.name[:100] or avatar.avatar_id[:100],
                avatar_id=avatar.avatar_id,
                thumbnail_url=avatar.thumbnail_url[:1000],
                default_voice=default_voice,
                active=avatar.available,
            )
            result.avatars_created += 1
        else:
            changed = []
            if not preset.thumbnail_url and avatar.thumbnail_url:
                preset.thumbnail_url = avatar.thumbnail_url[:1000]
                changed.append("thumbnail_url")
            if preset.default_voice is None and default_voice is not None:
                preset.default_voice = default_voice
                changed.append("default_voice")
            if changed:
                preset.save(update_fields=changed)
                result.avatars_updated += 1
    return result
