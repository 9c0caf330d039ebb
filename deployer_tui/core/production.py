"""Whether a context is production, and what that asks of every change: the one place of these rules
(docs/contexts.md, "Production").

The config decides when it says so (`production = true|false` on the profile or `[contexts.NAME]`).
Otherwise a context is production when its deployer has at least one infra and every infra is in a
stage named like production. A stage name is split into words on anything not a letter or a digit;
it is named like production when one word is "prod", "production", "prd" or "live" and no word
qualifies it away ("pre-prod", "non-prod", "prod-test"). Words are not split further: "preprod" is
one word, and not production. Infras not known (not fetched yet, or the call failed) are not proof of
production: the context is then not production unless the config says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from deployer_tui.core.contexts import Context

DEFAULT_COLOR = "red"

PRODUCTION_WORDS = frozenset({"prod", "production", "prd", "live"})
# Words that make a "prod" stage something else: before it (pre-prod, non-prod) or after it (prod-test).
QUALIFIERS = frozenset({"pre", "non", "not", "no", "test", "testing", "staging", "stage", "dev", "qa", "uat",
                        "sandbox", "shadow", "mock", "fake", "sim", "preview", "like"})
_WORD = re.compile(r"[a-z0-9]+")


def stage_is_production(stage: str | None) -> bool:
    """The naming rule above, for one stage name."""
    words = set(_WORD.findall((stage or "").lower()))
    return bool(words & PRODUCTION_WORDS) and not words & QUALIFIERS


def stages_say_production(infras: list[dict] | None) -> bool:
    """At least one infra, and every infra in a stage named like production."""
    if not infras:
        return False
    return all(isinstance(infra, dict) and stage_is_production(infra.get("stage")) for infra in infras)


def is_production(context: Context, infras: list[dict] | None) -> bool:
    """The config when it says so; else what the deployer's infras' stages say (unknown → False)."""
    if context.production is not None:
        return context.production
    return stages_say_production(infras)


def production_reason(context: Context, infras: list[dict] | None) -> str:
    """Why `is_production` says what it says, in words for the context list and the help."""
    if context.production is True:
        return "production: the config says so"
    if context.production is False:
        return "not production: the config says so"
    if infras is None:
        return "not production: its infras are not known yet"
    if not infras:
        return "not production: it has no infra"
    if stages_say_production(infras):
        stages = sorted({str(infra.get("stage")) for infra in infras})
        return f"production: every infra is in a production stage ({', '.join(stages)})"
    return "not production: not every infra is in a stage named like production"


def read_only_refusal(title: str) -> str:
    """The read-only refusal, word for word (ui/actions.py `refusal` says it through this function)."""
    return f"Read-only mode: “{title}” is not allowed"


@dataclass(frozen=True)
class Guard:
    """What a context asks of a change. `color`: the header colour when production, else None."""

    production: bool
    read_only: bool
    color: str | None
    context: str = ""

    def needs_typed_confirmation(self, action_title: str) -> bool:
        """Every change in production asks the user to type the object's id (`action_title` names the change,
        for the dialog; no change is exempt)."""
        return self.production

    def refusal(self, action_title: str = "this change") -> str | None:
        """The read-only message for a change, or None when the change may go ahead."""
        if not self.read_only:
            return None
        return read_only_refusal(action_title)

    def confirmation_prompt(self, action_title: str, object_id: str) -> str:
        """The typed confirmation's words: names the context, the change and what to type."""
        where = f" {self.context!r}" if self.context else ""
        return f"{action_title} in production context{where}: type {object_id!r} to confirm"

    @staticmethod
    def confirmed(typed: str, object_id: str) -> bool:
        """The typed text is the object's id (surrounding spaces forgiven, nothing else)."""
        return typed.strip() == object_id


def guard_for(context: Context, infras: list[dict] | None, *, read_only: bool = False) -> Guard:
    """The guard of a context; `read_only` is the console-wide read-only (--read-only, the config's
    `read_only`), which applies to every context on top of the context's own."""
    production = is_production(context, infras)
    color = (context.color or DEFAULT_COLOR) if production else None
    return Guard(production, read_only or context.read_only, color, context.name)
