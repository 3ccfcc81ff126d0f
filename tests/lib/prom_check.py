#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""A strict checker of the Prometheus text exposition format (0.0.4).

Reads the exposition on stdin (or from the file named as the argument)
and exits 1 with one line per problem on stderr if anything is wrong:

- every line is "# HELP name text", "# TYPE name type" or a sample
  "name{label="value",...} value", and the text ends with a newline;
- metric and label names are valid, label names are not reserved ("__")
  nor repeated, label values use only the escapes \\\\, \\" and \\n;
- each family has one TYPE (counter, gauge, ...) and at most one HELP,
  both before its first sample, and its samples form one group;
- counter families end in "_total" and their values are finite and >= 0;
- no series (name and label set) appears twice.

On success it prints the samples as one JSON array on stdout, each
{"name", "labels", "value"}, for the tests to compare with `stats -j`.
"""

import json
import math
import re
import sys

METRIC_AT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
METRIC = re.compile(METRIC_AT.pattern + r"\Z")
LABEL_AT = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
FLOAT = re.compile(r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|Inf|NaN)\Z")


class Bad(Exception):
    pass


def parse_labels(s, i):
    """Parses {a="x",b="y"} from s[i] == '{'; returns (labels, next i)."""
    labels = {}
    i += 1
    while True:
        if s[i:i + 1] == "}":
            return labels, i + 1
        m = LABEL_AT.match(s, i)
        if not m:
            raise Bad("bad label name at column %d" % (i + 1))
        name = m.group(0)
        if name.startswith("__"):
            raise Bad("reserved label name %s" % name)
        if name in labels:
            raise Bad("label %s twice" % name)
        i = m.end()
        if s[i:i + 2] != '="':
            raise Bad("label %s: expected =\"" % name)
        i += 2
        value = []
        while True:
            if i >= len(s):
                raise Bad("label %s: unterminated value" % name)
            c = s[i]
            if c == "\\":
                esc = s[i + 1:i + 2]
                if esc not in ("\\", '"', "n"):
                    raise Bad("label %s: bad escape \\%s" % (name, esc))
                value.append("\n" if esc == "n" else esc)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise Bad("label %s: raw newline" % name)
            else:
                value.append(c)
                i += 1
        labels[name] = "".join(value)
        if s[i:i + 1] == ",":
            i += 1
        elif s[i:i + 1] != "}":
            raise Bad("expected , or } after label %s" % name)


def parse_sample(line):
    m = METRIC_AT.match(line)
    if not m:
        raise Bad("bad metric name")
    name, i = m.group(0), m.end()
    labels = {}
    if line[i:i + 1] == "{":
        labels, i = parse_labels(line, i)
    if line[i:i + 1] != " ":
        raise Bad("expected one space before the value")
    rest = line[i + 1:].split(" ")
    if len(rest) not in (1, 2) or not FLOAT.match(rest[0]):
        raise Bad("bad value %r" % line[i + 1:])
    if len(rest) == 2 and not re.match(r"-?\d+\Z", rest[1]):
        raise Bad("bad timestamp %r" % rest[1])
    return name, labels, float(rest[0])


def check(text):
    """Returns (problems, samples)."""
    problems, samples = [], []
    types, helps, closed, seen = {}, set(), set(), set()
    current = None  # the family whose lines these are
    if not text.endswith("\n"):
        problems.append("the text does not end with a newline")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        try:
            if line.startswith("#"):
                words = line.split(" ", 3)
                if len(words) < 4 or words[0] != "#" or \
                        words[1] not in ("HELP", "TYPE"):
                    raise Bad("a comment other than HELP or TYPE")
                name = words[2]
                if not METRIC.match(name):
                    raise Bad("bad metric name %r" % name)
                if name != current:
                    if name in closed:
                        raise Bad("%s: its lines are not one group" % name)
                    if current:
                        closed.add(current)
                    current = name
                if words[1] == "HELP":
                    if name in helps:
                        raise Bad("%s: HELP twice" % name)
                    helps.add(name)
                    continue
                if name in types:
                    raise Bad("%s: TYPE twice" % name)
                if words[3] not in TYPES:
                    raise Bad("%s: unknown type %r" % (name, words[3]))
                if words[3] == "counter" and not name.endswith("_total"):
                    raise Bad("counter %s does not end in _total" % name)
                types[name] = words[3]
                continue
            name, labels, value = parse_sample(line)
            if name not in types:
                raise Bad("%s: a sample before its TYPE" % name)
            if name != current:
                raise Bad("%s: its lines are not one group" % name)
            series = (name, tuple(sorted(labels.items())))
            if series in seen:
                raise Bad("the series %s%s twice" % (name, labels))
            seen.add(series)
            if types[name] == "counter" and \
                    (math.isnan(value) or math.isinf(value) or value < 0):
                raise Bad("counter %s is %r" % (name, value))
            samples.append({"name": name, "labels": labels, "value": value})
        except (Bad, IndexError) as e:
            problems.append("line %d: %s: %s" % (n, e, line))
    return problems, samples


def main():
    text = open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read()
    problems, samples = check(text)
    for p in problems:
        sys.stderr.write("prom_check: %s\n" % p)
    if problems:
        return 1
    json.dump(samples, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
