"""moto in server mode: S3 (XML, ETags, conditional GETs, multipart upload ids, request ids)
and DynamoDB (JSON over POST with X-Amz-Target), driven with boto3 and a presigned URL.

Run as a script in the services venv: `python service_moto.py session BASE_URL WORKDIR`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rw_common as c


class Moto(c.Service):
    name = "moto"
    style = "AWS S3 (REST/XML, SigV4) + DynamoDB (JSON-RPC) via boto3"
    session_module = "service_moto.py"
    # SigV4: the recorder redacts the access key id and the signature only; region and
    # service stay readable (moto routes by them). The key id is filled back; a signature
    # can never be recomputed, and moto checks none.
    secrets = {"aws_access_key_id": "AKIATESTBED0001"}

    def available(self):
        why = super().available()
        if why:
            return why
        if not Path(c.venv_bin("moto_server")).exists():
            return f"moto_server not installed in {c.services_venv()}"
        return None

    def start(self, workdir: Path) -> c.Instance:
        workdir.mkdir(parents=True, exist_ok=True)
        proc = c.Proc(
            [c.venv_bin("moto_server"), "-H", "127.0.0.1", "-p", "0"],
            workdir / "moto.log",
            cwd=workdir,
        )
        try:
            # moto's server (werkzeug) binds port 0 and logs which port it got: no race
            url = f"http://127.0.0.1:{c.wait_output(proc, c.RUNNING_ON, 90).group(1)}"
            c.wait_http(url + "/moto-api/", proc)
        except Exception:
            proc.stop()
            raise
        return c.Instance(url, proc, workdir)


SERVICE = Moto()


# --- the session (runs in the services venv: boto3, requests) -------------------------------


def session(base_url: str, workdir: str) -> None:
    import boto3
    import requests
    from botocore.config import Config
    from botocore.exceptions import ClientError

    cfg = Config(
        retries={"max_attempts": 1, "mode": "standard"},
        s3={"addressing_style": "path"},
        signature_version="s3v4",
    )
    kw = dict(
        endpoint_url=base_url,
        region_name="us-east-1",
        aws_access_key_id="AKIATESTBED0001",
        aws_secret_access_key="testbed-secret-key-0001",
        config=cfg,
    )
    s3 = boto3.client("s3", **kw)
    ddb = boto3.client("dynamodb", **kw)
    n = 0

    def step(what, fn, *a, expect_error=None, **k):
        nonlocal n
        n += 1
        try:
            r = fn(*a, **k)
        except ClientError as e:
            code = e.response["Error"].get("Code")
            if expect_error and (
                code == expect_error
                or str(e.response["ResponseMetadata"].get("HTTPStatusCode")) == expect_error
            ):
                print(f"{n:3} {what}: expected error {code}")
                return e.response
            raise
        if expect_error:
            raise AssertionError(f"{what}: expected {expect_error}, got success")
        print(f"{n:3} {what}: ok")
        return r

    bucket = "testbed-bucket"
    step("list buckets (empty)", s3.list_buckets)
    step("create bucket", s3.create_bucket, Bucket=bucket)
    # us-east-1 keeps S3's legacy answer: creating your own bucket again is a 200
    step("create bucket again", s3.create_bucket, Bucket=bucket)
    step(
        "create bucket in eu-west-1 mismatch",
        boto3.client("s3", **{**kw, "region_name": "eu-west-1"}).create_bucket,
        Bucket="testbed-eu",
        expect_error="IllegalLocationConstraintException",
    )
    step("head bucket", s3.head_bucket, Bucket=bucket)
    step("head missing bucket", s3.head_bucket, Bucket="no-such-bucket-xyz", expect_error="404")
    put = step(
        "put object",
        s3.put_object,
        Bucket=bucket,
        Key="docs/readme.txt",
        Body=b"hello testbed\n",
        ContentType="text/plain",
        Metadata={"owner": "alice"},
    )
    etag = put["ETag"]
    step(
        "put json object",
        s3.put_object,
        Bucket=bucket,
        Key="data/config.json",
        Body=b'{"version": 1, "flags": ["a", "b"]}',
        ContentType="application/json",
    )
    step("get object", s3.get_object, Bucket=bucket, Key="docs/readme.txt")["Body"].read()
    step(
        "get object If-None-Match (304)",
        s3.get_object,
        Bucket=bucket,
        Key="docs/readme.txt",
        IfNoneMatch=etag,
        expect_error="304",
    )
    step("get object If-Match", s3.get_object, Bucket=bucket, Key="docs/readme.txt", IfMatch=etag)[
        "Body"
    ].read()
    step(
        "get object If-Match wrong (412)",
        s3.get_object,
        Bucket=bucket,
        Key="docs/readme.txt",
        IfMatch='"00000000000000000000000000000000"',
        expect_error="PreconditionFailed",
    )
    step("head object", s3.head_object, Bucket=bucket, Key="docs/readme.txt")
    step("get missing key", s3.get_object, Bucket=bucket, Key="nope.txt", expect_error="NoSuchKey")
    step("list objects v2", s3.list_objects_v2, Bucket=bucket)
    step("list objects prefix", s3.list_objects_v2, Bucket=bucket, Prefix="docs/")
    step(
        "copy object",
        s3.copy_object,
        Bucket=bucket,
        Key="docs/copy.txt",
        CopySource={"Bucket": bucket, "Key": "docs/readme.txt"},
    )
    step(
        "put bucket tagging",
        s3.put_bucket_tagging,
        Bucket=bucket,
        Tagging={"TagSet": [{"Key": "team", "Value": "qa"}]},
    )
    step("get bucket tagging", s3.get_bucket_tagging, Bucket=bucket)
    mp = step("create multipart upload", s3.create_multipart_upload, Bucket=bucket, Key="big.bin")
    upload_id = mp["UploadId"]
    part = step(
        "upload part",
        s3.upload_part,
        Bucket=bucket,
        Key="big.bin",
        UploadId=upload_id,
        PartNumber=1,
        Body=b"x" * 1024,
    )
    step("list parts", s3.list_parts, Bucket=bucket, Key="big.bin", UploadId=upload_id)
    step(
        "complete multipart upload",
        s3.complete_multipart_upload,
        Bucket=bucket,
        Key="big.bin",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    step("get multipart object", s3.get_object, Bucket=bucket, Key="big.bin")["Body"].read()
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "data/config.json"}, ExpiresIn=3600
    )
    n += 1
    r = requests.get(url, timeout=30)
    print(f"{n:3} presigned GET: {r.status_code}")
    n += 1
    r = requests.get(f"{base_url}/{bucket}/docs/readme.txt", timeout=30)
    print(f"{n:3} anonymous GET: {r.status_code}")
    step("delete object", s3.delete_object, Bucket=bucket, Key="docs/copy.txt")
    step(
        "delete bucket not empty (409)",
        s3.delete_bucket,
        Bucket=bucket,
        expect_error="BucketNotEmpty",
    )

    # DynamoDB
    table = "testbed-orders"
    step("ddb list tables", ddb.list_tables)
    step(
        "ddb create table",
        ddb.create_table,
        TableName=table,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    step("ddb describe table", ddb.describe_table, TableName=table)
    for i in range(1, 4):
        step(
            f"ddb put item {i}",
            ddb.put_item,
            TableName=table,
            Item={
                "pk": {"S": "customer#1"},
                "sk": {"N": str(i)},
                "amount": {"N": str(10 * i)},
                "status": {"S": "new"},
            },
        )
    step(
        "ddb conditional put fails",
        ddb.put_item,
        TableName=table,
        Item={"pk": {"S": "customer#1"}, "sk": {"N": "1"}},
        ConditionExpression="attribute_not_exists(pk)",
        expect_error="ConditionalCheckFailedException",
    )
    step(
        "ddb get item",
        ddb.get_item,
        TableName=table,
        Key={"pk": {"S": "customer#1"}, "sk": {"N": "2"}},
    )
    step(
        "ddb update item",
        ddb.update_item,
        TableName=table,
        Key={"pk": {"S": "customer#1"}, "sk": {"N": "2"}},
        UpdateExpression="SET #s = :s ADD amount :inc",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "paid"}, ":inc": {"N": "5"}},
        ReturnValues="ALL_NEW",
    )
    step(
        "ddb query",
        ddb.query,
        TableName=table,
        KeyConditionExpression="pk = :pk AND sk >= :min",
        ExpressionAttributeValues={":pk": {"S": "customer#1"}, ":min": {"N": "2"}},
    )
    step("ddb scan", ddb.scan, TableName=table)
    step(
        "ddb delete item",
        ddb.delete_item,
        TableName=table,
        Key={"pk": {"S": "customer#1"}, "sk": {"N": "3"}},
        ReturnValues="ALL_OLD",
    )
    step(
        "ddb get missing table",
        ddb.describe_table,
        TableName="nope",
        expect_error="ResourceNotFoundException",
    )
    step("ddb delete table", ddb.delete_table, TableName=table)
    print(f"session done: {n} client calls")


if __name__ == "__main__":
    if sys.argv[1] == "session":
        session(sys.argv[2], sys.argv[3])
