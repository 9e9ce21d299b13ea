"""Scraping tidingsd's metrics endpoint and reading what it says, strictly.

parse_exposition() accepts only what tidingsd is meant to write: every
line is a `# HELP`, a `# TYPE` or a sample `name{labels} value`; every
sample belongs to a family with a TYPE (and a HELP) given before it; a
family's samples are together; counters' samples end in _total. In the
Prometheus text format (0.0.4) TYPE and HELP name the sample (with
_total); in OpenMetrics they name the family (without it), and the text
ends with `# EOF`.
"""

import re
import urllib.error
import urllib.request

OPENMETRICS = ("application/openmetrics-text; version=1.0.0; "
               "charset=utf-8")
TEXT = "text/plain; version=0.0.4; charset=utf-8"
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,"
                     "application/openmetrics-text;version=0.0.1;q=0.75,"
                     "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
SAMPLE_RE = re.compile(r"^(%s)(\{(?:%s(?:,%s)*)?\})? "
                       r"(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)$"
                       % (NAME, LABEL, LABEL))
HELP_RE = re.compile(r"^# HELP (%s) (.+)$" % NAME)
TYPE_RE = re.compile(r"^# TYPE (%s) (counter|gauge)$" % NAME)
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class BadExposition(AssertionError):
    pass


def scrape(port, path="/metrics", accept=None, method="GET", data=None,
           host="127.0.0.1", timeout=10.0):
    """One HTTP request; returns (status, headers, body as str). HTTP
    errors are answers too (their status); connection errors raise."""
    h = "[%s]" % host if ":" in host else host
    req = urllib.request.Request("http://%s:%d%s" % (h, port, path),
                                 data=data, method=method)
    if accept is not None:
        req.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers, e.read().decode("utf-8", "replace")


def parse_exposition(text, openmetrics):
    """{(sample name, frozenset of label pairs): value}, and {family:
    type}. Raises BadExposition at the first line out of place."""
    if not text.endswith("\n"):
        raise BadExposition("the text does not end with a newline")
    lines = text[:-1].split("\n")
    if openmetrics:
        if lines[-1] != "# EOF":
            raise BadExposition("no final # EOF: %r" % lines[-1])
        lines = lines[:-1]
    elif "# EOF" in lines:
        raise BadExposition("# EOF in the Prometheus text format")
    types, helps, samples = {}, {}, {}
    done, current = set(), None

    def family_of(sample):
        if openmetrics and sample.endswith("_total") and \
                types.get(sample[:-6]) == "counter":
            return sample[:-6]
        return sample

    for i, line in enumerate(lines, 1):
        where = "line %d: %r" % (i, line)
        m = HELP_RE.match(line)
        if m:
            if m.group(1) in helps:
                raise BadExposition("second HELP, " + where)
            helps[m.group(1)] = m.group(2)
            continue
        m = TYPE_RE.match(line)
        if m:
            name, kind = m.groups()
            if name in types:
                raise BadExposition("second TYPE, " + where)
            if openmetrics and kind == "counter" and name.endswith("_total"):
                raise BadExposition("OpenMetrics counter family named "
                                    "with _total, " + where)
            if not openmetrics and kind == "counter" and \
                    not name.endswith("_total"):
                raise BadExposition("counter without _total, " + where)
            types[name] = kind
            continue
        if line.startswith("#"):
            raise BadExposition("unexpected comment, " + where)
        m = SAMPLE_RE.match(line)
        if not m:
            raise BadExposition("not a sample, " + where)
        name, labels, value = m.groups()
        fam = family_of(name)
        if fam not in types:
            raise BadExposition("sample before (or without) its TYPE, "
                                + where)
        if fam not in helps:
            raise BadExposition("sample without a HELP, " + where)
        if types[fam] == "counter" and not name.endswith("_total"):
            raise BadExposition("counter sample without _total, " + where)
        if fam != current:
            if fam in done:
                raise BadExposition("family split, " + where)
            if current is not None:
                done.add(current)
            current = fam
        key = (name, frozenset(LABEL_RE.findall(labels or "")))
        if key in samples:
            raise BadExposition("sample repeated, " + where)
        samples[key] = float(value)
    for fam in types:
        if fam not in helps:
            raise BadExposition("TYPE without HELP: %s" % fam)
        if not any(family_of(n) == fam for n, _ in samples):
            raise BadExposition("family without samples: %s" % fam)
    return samples, types


def value(samples, name, **labels):
    """The value of one sample; KeyError when absent."""
    return samples[(name, frozenset(labels.items()))]


def get_metrics(port, openmetrics=False, host="127.0.0.1"):
    """Scrape and parse (asserting status 200 and the content type)."""
    status, headers, body = scrape(
        port, accept=PROMETHEUS_ACCEPT if openmetrics else None, host=host)
    if status != 200:
        raise AssertionError("metrics: HTTP %d: %s" % (status, body))
    want = OPENMETRICS if openmetrics else TEXT
    if headers.get("Content-Type") != want:
        raise AssertionError("Content-Type %r, expected %r"
                             % (headers.get("Content-Type"), want))
    return parse_exposition(body, openmetrics)[0]
