"""Client-side key-name redaction, the same rules as the server's engine.

A key is masked when its name contains (ASCII case-insensitively) one of the default sensitive
fragments, or equals (case-insensitively) a denylist entry; a key equal to an allowlist entry is
kept with everything under it, and the allowlist wins over both. A masked key keeps its place and
its whole value becomes the mask. Rules apply at every depth of nested objects and arrays.

The server applies the same rules again (with its own configuration) and also masks values that
look like personal data; this module only does the key-name part, so that sensitive features
never leave the process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ._encoding import _IMMUTABLE, plain_copy

DEFAULT_MASK = "*****"

# The server's default list, read from the data file shipped in this package; a Rust test
# (crates/core/tests/sensitive_key_fragments.rs) checks that the file equals the server's list.
_FRAGMENTS_FILE = resources.files(__package__).joinpath("sensitive_key_fragments.json")
SENSITIVE_KEY_FRAGMENTS: Tuple[str, ...] = tuple(json.loads(_FRAGMENTS_FILE.read_text("utf-8"))["fragments"])

# Only A-Z are folded for the fragment test, as the server's ASCII-only case-insensitive match.
_ASCII_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}

_KEEP = 0
_MASK = 1
_INSPECT = 2

# Decisions are cached per key name; a process sees few distinct feature names. The cache is
# bounded so that unbounded key sets (ids used as keys) cannot grow it without limit.
_CACHE_LIMIT = 4096


class RedactionRules:
    """Compiled key-name rules. Build once, then call :meth:`redact` for each event."""

    __slots__ = ("allowlist", "denylist", "mask_value", "_allow", "_deny", "_cache")

    def __init__(
        self,
        allowlist: Optional[Iterable[str]] = None,
        denylist: Optional[Iterable[str]] = None,
        mask_value: Optional[str] = None,
    ) -> None:
        self.allowlist: List[str] = [str(key) for key in (allowlist or ())]
        self.denylist: List[str] = [str(key) for key in (denylist or ())]
        self.mask_value: str = DEFAULT_MASK if mask_value is None else str(mask_value)
        self._allow = frozenset(key.lower() for key in self.allowlist)
        self._deny = frozenset(key.lower() for key in self.denylist)
        self._cache: Dict[str, int] = {}

    @classmethod
    def from_setting(cls, setting: Optional[Mapping]) -> "RedactionRules":
        """From django-ml-audit's ``ML_AUDIT_REDACTION`` shape:
        ``{"ALLOWLIST": [...], "DENYLIST": [...], "MASK_VALUE": "..."}`` (lower-case keys too)."""
        setting = setting or {}

        def pick(name: str) -> Any:
            if name in setting:
                return setting[name]
            return setting.get(name.lower())

        allow = pick("ALLOWLIST")
        deny = pick("DENYLIST")
        if isinstance(allow, str):
            allow = [part.strip() for part in allow.split(",") if part.strip()]
        if isinstance(deny, str):
            deny = [part.strip() for part in deny.split(",") if part.strip()]
        return cls(allow, deny, pick("MASK_VALUE"))

    def __repr__(self) -> str:
        return (
            f"RedactionRules(allowlist={self.allowlist!r}, denylist={self.denylist!r}, "
            f"mask_value={self.mask_value!r})"
        )

    def rule(self, key: str) -> int:
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        lowered = key.lower()
        if lowered in self._allow:
            decision = _KEEP
        elif lowered in self._deny:
            decision = _MASK
        else:
            folded = key.translate(_ASCII_LOWER)
            decision = _INSPECT
            for fragment in SENSITIVE_KEY_FRAGMENTS:
                if fragment in folded:
                    decision = _MASK
                    break
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = decision
        return decision

    def is_sensitive(self, key: str) -> bool:
        """True when a key of this name is masked (django-ml-audit's ``is_sensitive``)."""
        return self.rule(str(key)) == _MASK

    def redact(self, value: Any) -> Any:
        """Return a copy of ``value`` with the key-name rules applied at every depth.

        The copy shares nothing mutable with ``value`` (see :func:`plain_copy`): a background
        event is encoded on the delivery thread, after the call has returned."""
        return self._copy(value)

    def redact_with_paths(self, value: Any) -> Tuple[Any, List[str]]:
        """Like :meth:`redact`, also returning the masked JSON paths (``$.customer.email``)."""
        paths: List[str] = []
        redacted = self._walk_paths(value, "$", paths)
        return redacted, paths

    def _copy(self, value: Any) -> Any:
        kind = type(value)
        if kind is dict or (kind is not list and kind is not tuple and isinstance(value, Mapping)):
            cache = self._cache
            rule = self.rule
            mask = self.mask_value
            out = {}
            for key, child in value.items():
                decision = cache.get(key) if type(key) is str else None
                if decision is None:
                    decision = rule(key if type(key) is str else _key_name(key))
                if decision == _MASK:
                    out[key] = mask
                elif type(child) in _IMMUTABLE or child is None:
                    out[key] = child
                elif decision == _INSPECT:
                    out[key] = self._copy(child)
                else:  # allowlisted: kept whole, rules not applied under it
                    out[key] = plain_copy(child)
            return out
        if kind is list or kind is tuple:
            return [child if type(child) in _IMMUTABLE or child is None else self._copy(child) for child in value]
        if isinstance(value, (list, tuple)):
            return self._copy(list(value))
        return plain_copy(value)

    def _walk_paths(self, value: Any, path: str, paths: List[str]) -> Any:
        if isinstance(value, Mapping):
            out = {}
            for key, child in value.items():
                name = key if type(key) is str else _key_name(key)
                child_path = f"{path}.{name}" if _plain(name) else f"{path}[{_quote(name)}]"
                decision = self.rule(name)
                if decision == _MASK:
                    out[key] = self.mask_value
                    paths.append(child_path)
                elif decision == _KEEP:
                    out[key] = child
                else:
                    out[key] = self._walk_paths(child, child_path, paths)
            return out
        if isinstance(value, (list, tuple)):
            return [self._walk_paths(child, f"{path}[{index}]", paths) for index, child in enumerate(value)]
        return value




def _key_name(key: Any) -> str:
    # json.dumps writes these keys as the names below; the rules see what the server will see.
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    return str(key)


def _plain(name: str) -> bool:
    # The server's rule: an ASCII letter or underscore, then ASCII letters, digits, underscores.
    return bool(_IDENTIFIER.match(name))


def _quote(name: str) -> str:
    return json.dumps(name, ensure_ascii=False)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
