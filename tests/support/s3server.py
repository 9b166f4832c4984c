"""A real S3 server on 127.0.0.1 for the tests: moto's server (in a process of its own), with
credentials that are checked.

`python -m tests.support.s3server` starts it on a free port, creates one IAM user with an access
key allowed `s3:*` and the bucket `pedigree`, then turns authentication on: from then on every
request must be signed with that key (a wrong secret is `SignatureDoesNotMatch`, an unknown key
`InvalidAccessKeyId`), as MinIO or AWS would answer. It prints one JSON line (endpoint, key,
secret, bucket) and serves until its stdin closes.

`S3Server.start()` runs it and reads that line; `env()` is what a pod gets from the
WorkflowTemplate (AWS_ENDPOINT_URL and the two credential variables).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

BUCKET = "pedigree"
REGION = "us-east-1"
# Every S3 action on every resource: the tests check authentication, not policies.
POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}


@dataclass(frozen=True)
class S3Server:
    """A running server and the credentials it accepts."""

    process: subprocess.Popen[str]
    endpoint: str
    key: str
    secret: str
    bucket: str

    @classmethod
    def start(cls) -> S3Server:
        """Start the server and wait until it is ready (its JSON line)."""
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.s3server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            process.kill()
            raise RuntimeError(f"the S3 server did not start (exit {process.wait()})")
        ready = json.loads(line)
        return cls(process, ready["endpoint"], ready["key"], ready["secret"], ready["bucket"])

    def stop(self) -> None:
        """Close its stdin (it stops) and wait for it."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def env(self, secret: str | None = None, endpoint: str | None = None) -> dict[str, str]:
        """A pod's S3 environment (another secret or endpoint for the failure tests)."""
        return {
            "AWS_ENDPOINT_URL": endpoint or self.endpoint,
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": secret or self.secret,
            "AWS_DEFAULT_REGION": REGION,
        }

    def keys(self, prefix: str) -> list[str]:
        """Every object key in the bucket under `prefix`, sorted."""
        client = _client("s3", self.endpoint, self.key, self.secret)
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)


def _client(service: str, endpoint: str, key: str, secret: str) -> Any:
    import botocore.session

    return botocore.session.get_session().create_client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
    )


def main() -> None:
    """Serve until stdin closes (see the module docstring)."""
    from moto import settings
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    server = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # Set up while authentication is still off (moto's default), then turn it on.
    iam = _client("iam", endpoint, "setup", "setup")
    iam.create_user(UserName="pedigree-tests")
    key = iam.create_access_key(UserName="pedigree-tests")["AccessKey"]
    iam.put_user_policy(
        UserName="pedigree-tests", PolicyName="s3", PolicyDocument=json.dumps(POLICY)
    )
    _client("s3", endpoint, "setup", "setup").create_bucket(Bucket=BUCKET)
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ready = {
        "endpoint": endpoint,
        "key": key["AccessKeyId"],
        "secret": key["SecretAccessKey"],
        "bucket": BUCKET,
    }
    print(json.dumps(ready), flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
