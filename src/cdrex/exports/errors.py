"""Validation errors the domain raises; the HTTP layer turns them into JSON:API errors."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Invalid:
    """One invalid input. ``path`` names the member inside the resource's attributes."""

    path: tuple[str, ...]
    title: str

    @property
    def detail(self) -> str:
        # DIDWW's form, "<attribute> - <message>" ("filters - from not valid"); the pointer
        # names the member inside the attribute.
        return f"{self.path[0]} - {self.title}" if self.path else self.title


class ValidationFailed(Exception):
    def __init__(self, problems: list[Invalid]) -> None:
        super().__init__("; ".join(problem.detail for problem in problems))
        self.problems = problems
