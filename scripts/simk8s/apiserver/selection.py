"""Parses and evaluates Kubernetes label and field selectors for the simcluster API endpoint."""

import re

_KEY = r"[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VAL = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_RE_NOT_EXISTS = re.compile(r"^\s*!\s*(%s)\s*$" % _KEY)
_RE_EXISTS = re.compile(r"^\s*(%s)\s*$" % _KEY)
_RE_SET = re.compile(r"^\s*(%s)\s+(in|notin)\s*\((.*)\)\s*$" % _KEY)
_RE_CMP = re.compile(r"^\s*(%s)\s*(==|=|!=|>|<)\s*(%s)\s*$" % (_KEY, _VAL))
_RE_FIELD = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$")


class SelectorError(ValueError):
    """A selector string that does not parse; the message is shown to the client."""


def _split_top(text):
    """Splits on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_label_selector(text):
    """Returns a list of (key, op, values) requirements; empty text selects everything."""
    reqs = []
    if text is None or not text.strip():
        return reqs
    for part in _split_top(text):
        m = _RE_SET.match(part)
        if m:
            vals = [v.strip() for v in m.group(3).split(",")]
            if not all(re.fullmatch(_VAL, v) for v in vals):
                raise SelectorError("unable to parse requirement: invalid value in %r" % part)
            reqs.append((m.group(1), m.group(2), set(vals)))
            continue
        m = _RE_CMP.match(part)
        if m:
            op = {"==": "=", "=": "="}.get(m.group(2), m.group(2))
            val = m.group(3)
            if op in (">", "<") and not re.fullmatch(r"-?[0-9]+", val):
                raise SelectorError("unable to parse requirement: for 'gt', 'lt' operators, "
                                    "the value must be an integer")
            reqs.append((m.group(1), op, {val}))
            continue
        m = _RE_NOT_EXISTS.match(part)
        if m:
            reqs.append((m.group(1), "!", set()))
            continue
        m = _RE_EXISTS.match(part)
        if m:
            reqs.append((m.group(1), "exists", set()))
            continue
        raise SelectorError("unable to parse requirement: found '%s', expected: "
                            "identifier or operator" % part.strip())
    return reqs


def labels_match(reqs, labels):
    """True when a labels dict satisfies every requirement."""
    labels = labels or {}
    for key, op, vals in reqs:
        have = key in labels
        val = labels.get(key)
        if op == "=" or op == "in":
            ok = have and val in vals
        elif op == "!=" or op == "notin":
            ok = not have or val not in vals
        elif op == "exists":
            ok = have
        elif op == "!":
            ok = not have
        else:
            want = int(next(iter(vals)))
            try:
                num = int(val) if have else None
            except ValueError:
                num = None
            ok = num is not None and (num > want if op == ">" else num < want)
        if not ok:
            return False
    return True


def parse_field_selector(text, allowed):
    """Returns (field, op, value) requirements; fields outside `allowed` are rejected."""
    reqs = []
    if text is None or not text.strip():
        return reqs
    for part in _split_top(text):
        m = _RE_FIELD.match(part)
        if not m:
            raise SelectorError("invalid selector: '%s'; can't understand '%s'" % (text, part))
        field, op, val = m.group(1), m.group(2), m.group(3)
        if field not in allowed:
            raise SelectorError('field label not supported: %s' % field)
        reqs.append((field, "!=" if op == "!=" else "=", val))
    return reqs


def field_value(obj, path):
    """Reads a dotted path such as spec.nodeName; missing fields read as ''."""
    cur = obj
    for name in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(name)
    return "" if cur is None else str(cur)


def fields_match(reqs, obj):
    """True when the object's fields satisfy every requirement."""
    for field, op, val in reqs:
        have = field_value(obj, field)
        if (have == val) != (op == "="):
            return False
    return True
