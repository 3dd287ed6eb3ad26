#!/usr/bin/env python3
"""Lakegate's webhook deliveries, checked with the Standard Webhooks library itself (PyPI
`standardwebhooks`): each sample's `webhook-signature` must be the one the library computes
for its id, timestamp and body with the endpoint's secret (one of several during a secret's
rotation), and the library's full `verify`
must accept it (at a clock set to the delivery's time: the samples come from tests with a
fixed clock) and refuse it once the body is changed.

    LAKEGATE_WEBHOOK_SAMPLES=/tmp/samples.jsonl cargo test -p lakegate --test it webhooks::
    scripts/standard-webhooks-check.py /tmp/samples.jsonl
"""

import datetime
import json
import sys
from unittest import mock

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def at(timestamp):
    """The library's clock, set to `timestamp` (it refuses deliveries older than 5 minutes)."""
    fixed = datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)

    class Clock(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return fixed

    return mock.patch("standardwebhooks.webhooks.datetime", Clock)


def main():
    samples = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    if not samples:
        raise SystemExit("no webhook samples: did the tests run with LAKEGATE_WEBHOOK_SAMPLES?")
    for s in samples:
        wh = Webhook(s["secret"])
        ts = int(s["webhook-timestamp"])
        when = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
        # One signature per secret, space-separated, during a rotation: this sample's secret
        # must have made one of them.
        expected = wh.sign(s["webhook-id"], when, s["body"])
        if expected not in s["webhook-signature"].split(" "):
            raise SystemExit(f"{s['webhook-id']}: signature {s['webhook-signature']}, the library says {expected}")
        headers = {k: s[k] for k in ["webhook-id", "webhook-timestamp", "webhook-signature"]}
        with at(ts):
            payload = wh.verify(s["body"], headers)
            if payload.get("type") is None:
                raise SystemExit(f"{s['webhook-id']}: no event type in {payload}")
            try:
                wh.verify(s["body"] + " ", headers)
            except WebhookVerificationError:
                pass
            else:
                raise SystemExit(f"{s['webhook-id']}: a changed body still verifies")
    print(f"{len(samples)} deliveries verified with standardwebhooks")


if __name__ == "__main__":
    main()
