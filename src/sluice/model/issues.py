"""The issues a model load collects: every one, each with its file and line, never only the
first."""

from __future__ import annotations

from dataclasses import dataclass, field

from sluice.errors import ModelIssue
from sluice.model.types import Loc


@dataclass
class IssueLog:
    issues: list[ModelIssue] = field(default_factory=list)
    # Files that did not parse: view and topic names, or "model" / "relationships".
    unparsed: set[str] = field(default_factory=set)

    def error(self, loc: Loc, message: str) -> None:
        self.issues.append(ModelIssue(loc.file, loc.line, message))

    def warn(self, loc: Loc, message: str) -> None:
        self.issues.append(ModelIssue(loc.file, loc.line, message, "warning"))

    def causes_only(self) -> list[ModelIssue]:
        """The issues without the ones an unparsed file causes elsewhere (a view that "does
        not exist" because its file did not parse, relationships missing because
        relationships.yaml did not parse): the parse errors are the causes, the rest would
        only bury them."""
        mentions = [f"`{name}`" for name in self.unparsed]
        mentions += [f"${{{name}." for name in self.unparsed]
        kept: list[ModelIssue] = []
        for issue in self.issues:
            if not issue.message.startswith("invalid YAML"):
                if any(m in issue.message for m in mentions):
                    continue
                if "relationships" in self.unparsed and "relationship" in issue.message:
                    continue
            kept.append(issue)
        return kept
