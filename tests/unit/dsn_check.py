#!/usr/bin/python3
"""
dsn_check.py -- validate a DSN written by smtp/dsn.c with Python's own
email parser, an implementation independent of ours (test_dsn.c runs it).

  /usr/bin/python3 tests/unit/dsn_check.py FILE [--rcpts N] [--action failed|delayed ...]

Checks the raw bytes (CRLF only, no NUL, lines <= 998 octets), then parses
with email.policy.default: no parser defects anywhere; top-level
multipart/report with report-type=delivery-status from MAILER-DAEMON and
Auto-Submitted: auto-replied; exactly three parts: text/plain (strict
UTF-8), message/delivery-status, text/rfc822-headers; a per-message block
with Reporting-MTA and Arrival-Date and per-recipient blocks with
Final-Recipient, Action and Status of the right forms.

The email package parses message/delivery-status into a list of header
blocks (Message objects): the first is the per-message block, one more per
recipient. Exit 0 when the DSN is good; otherwise each problem on stderr
and exit 1 (2 for usage).
"""

import argparse
import email
import email.policy
import re
import sys

STATUS = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")
ADDR_TYPE = re.compile(r"^(rfc822|utf-8);\s*\S")
ACTIONS = {"failed", "delayed", "delivered", "relayed", "expanded"}
PART_TYPES = ["text/plain", "message/delivery-status", "text/rfc822-headers"]


def check_raw(data, problems):
    if b"\0" in data:
        problems.append("NUL byte in the message")
    if not data.endswith(b"\r\n"):
        problems.append("message does not end with CRLF")
    lines = data.split(b"\r\n")
    for n, line in enumerate(lines, 1):
        if b"\r" in line or b"\n" in line:
            problems.append("line %d: bare CR or LF" % n)
        if len(line) > 998:
            problems.append("line %d: %d octets, want <= 998" % (n, len(line)))


def one(msg, name, problems, where):
    vals = msg.get_all(name) or []
    if len(vals) != 1:
        problems.append("%s: %d %s fields, want 1" % (where, len(vals), name))
        return ""
    return str(vals[0])


def check(data, want_rcpts, want_actions):
    problems = []
    check_raw(data, problems)
    msg = email.message_from_bytes(data, policy=email.policy.default)

    for part in msg.walk():
        for d in part.defects:
            problems.append("parser defect in %s: %r" % (part.get_content_type(), d))

    if msg.get_content_type() != "multipart/report":
        problems.append("content type %s, want multipart/report" % msg.get_content_type())
    if msg.get_param("report-type") != "delivery-status":
        problems.append("report-type %r, want delivery-status" % msg.get_param("report-type"))
    for name in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version",
                 "Auto-Submitted", "Content-Type"):
        one(msg, name, problems, "top")
    if "MAILER-DAEMON@" not in str(msg.get("From", "")):
        problems.append("From %r, want MAILER-DAEMON@..." % str(msg.get("From", "")))
    if str(msg.get("Auto-Submitted", "")).strip() != "auto-replied":
        problems.append("Auto-Submitted %r, want auto-replied" % str(msg.get("Auto-Submitted")))
    if msg.get("Date") is not None and getattr(msg["Date"], "datetime", None) is None:
        problems.append("Date %r does not parse" % str(msg["Date"]))

    parts = msg.get_payload() if msg.is_multipart() else []
    types = [p.get_content_type() for p in parts]
    if types != PART_TYPES:
        problems.append("parts %s, want %s" % (types, PART_TYPES))
        return problems

    text, status, headers = parts
    if text.get_content_charset() != "utf-8":
        problems.append("text part charset %r, want utf-8" % text.get_content_charset())
    try:
        body = text.get_payload(decode=True).decode("utf-8")
        if "mail system" not in body:
            problems.append("text part lacks the mail system's greeting")
    except UnicodeDecodeError as e:
        problems.append("text part is not UTF-8: %s" % e)

    blocks = status.get_payload()
    if not isinstance(blocks, list) or len(blocks) < 2:
        problems.append("delivery-status holds %r, want a per-message block and recipients"
                        % type(blocks).__name__)
        return problems
    per_msg, rcpts = blocks[0], blocks[1:]
    mta = one(per_msg, "Reporting-MTA", problems, "per-message block")
    if not mta.lower().startswith("dns;"):
        problems.append("Reporting-MTA %r, want dns; HOST" % mta)
    one(per_msg, "Arrival-Date", problems, "per-message block")
    if want_rcpts is not None and len(rcpts) != want_rcpts:
        problems.append("%d recipient blocks, want %d" % (len(rcpts), want_rcpts))
    for i, r in enumerate(rcpts):
        where = "recipient block %d" % (i + 1)
        fr = one(r, "Final-Recipient", problems, where)
        if not ADDR_TYPE.match(fr):
            problems.append("%s: Final-Recipient %r, want rfc822; or utf-8; ADDR" % (where, fr))
        act = one(r, "Action", problems, where).strip()
        if act not in ACTIONS:
            problems.append("%s: Action %r" % (where, act))
        if want_actions and i < len(want_actions) and act != want_actions[i]:
            problems.append("%s: Action %r, want %r" % (where, act, want_actions[i]))
        st = one(r, "Status", problems, where).strip()
        if not STATUS.match(st):
            problems.append("%s: Status %r, want X.Y.Z" % (where, st))
        if act == "failed" and st[:1] == "2":
            problems.append("%s: failed with status %s" % (where, st))
        if act == "delayed" and st[:1] != "4":
            problems.append("%s: delayed with status %s, want 4.X.X" % (where, st))
        for f in ("Diagnostic-Code", "Remote-MTA"):
            v = r.get(f)
            if v is not None and ";" not in str(v):
                problems.append("%s: %s %r, want TYPE; TEXT" % (where, f, str(v)))
        for f in r.keys():
            if any(ord(c) > 127 for c in str(r[f])):
                problems.append("%s: %s is not ASCII" % (where, f))

    if headers.is_multipart():
        problems.append("text/rfc822-headers part is multipart")
    return problems


def main():
    ap = argparse.ArgumentParser(description="validate a DSN")
    ap.add_argument("file")
    ap.add_argument("--rcpts", type=int, help="number of recipient blocks wanted")
    ap.add_argument("--action", nargs="+", help="Action of each recipient, in order")
    args = ap.parse_args()
    with open(args.file, "rb") as f:
        data = f.read()
    problems = check(data, args.rcpts, args.action)
    for p in problems:
        print("%s: %s" % (args.file, p), file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
