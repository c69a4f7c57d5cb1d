#!/usr/bin/python3
"""A Python gRPC client for Berth's Open Inference Protocol v2 service, as a Python user writes one.

Stubs are generated at run time from the proto with grpc_tools.protoc (Debian: python3-grpcio,
python3-grpc-tools), so this checks the proto file itself as well as the server. The script runs
the steps of a JSON job file, in order, against one server, and prints one JSON document:
{"steps": [<one result per step, same order>]}. It asserts nothing: the TypeScript test
(grpc-python.test.ts) writes the job and judges the answers.

    /usr/bin/python3 grpc_interop.py --proto proto/grpc_predict_v2.proto --stubs /tmp/dir \
        --address 127.0.0.1:50051 --job job.json

Job file:

    {"token": "..." | null,                      # sent as `authorization: Bearer <token>`
     "steps": [
       {"label": "live", "rpc": "ServerLive", "request": {}},          # any unary RPC but ModelInfer:
                                                                         # request as proto JSON
       {"label": "x", "rpc": "ModelInfer", "infer": INFER},
       {"label": "s", "rpc": "ModelStreamInfer", "stream": [INFER, ...]},
       ... each step may carry "credentials": "token" (default) | "none" | "wrong"
                                                 # (the token with its last character changed)]}

    INFER = {"model": "name", "version": "1" (optional), "id": "req-1", "mode": "raw" | "typed",
             "inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 3], "data": [flat values]}]}

A unary result is {"label", "ok", "code", "details", "trailing": {key: value}, "response"}; an
inference response is decoded to {"model_name", "model_version", "id", "raw_output_count",
"outputs": [{"name", "datatype", "shape", "data": [flat values], "contents_fields": [...]}]}.
A stream result adds "answers": [{"error_message", "response"}] in arrival order.
"""
import argparse
import importlib
import json
import math
import struct
import sys

import grpc
from google.protobuf import json_format
from grpc_tools import protoc

# datatype -> struct format character of one little-endian element (BYTES: length-prefixed)
RAW_FORMAT = {
    "BOOL": "?", "INT8": "b", "INT16": "h", "INT32": "i", "INT64": "q",
    "UINT8": "B", "UINT16": "H", "UINT32": "I", "UINT64": "Q",
    "FP16": "e", "FP32": "f", "FP64": "d",
}

# datatype -> the InferTensorContents field that holds its elements (FP16 has none)
CONTENTS_FIELD = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
    "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents",
    "UINT32": "uint_contents", "UINT64": "uint64_contents", "FP32": "fp32_contents",
    "FP64": "fp64_contents", "BYTES": "bytes_contents",
}
ALL_CONTENTS_FIELDS = sorted(set(CONTENTS_FIELD.values()))

CALL_TIMEOUT_S = 60


def load_stubs(proto, out_dir):
    """Generate the message and service modules into out_dir and import them."""
    include, name = proto.rsplit("/", 1) if "/" in proto else (".", proto)
    rc = protoc.main(["grpc_tools.protoc", "-I" + include, "--python_out=" + out_dir, "--grpc_python_out=" + out_dir, name])
    if rc != 0:
        raise SystemExit("protoc failed on %s (exit %d)" % (proto, rc))
    sys.path.insert(0, out_dir)
    module = name[: -len(".proto")]
    return importlib.import_module(module + "_pb2"), importlib.import_module(module + "_pb2_grpc")


def json_value(v):
    """JSON has no NaN or infinities: name them as strings."""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return v


def pack_raw(datatype, data):
    if datatype == "BYTES":
        out = bytearray()
        for s in data:
            b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
            out += struct.pack("<I", len(b)) + b
        return bytes(out)
    return struct.pack("<%d%s" % (len(data), RAW_FORMAT[datatype]), *data)


def unpack_raw(datatype, buf):
    if datatype == "BYTES":
        values, at = [], 0
        while at < len(buf):
            (n,) = struct.unpack_from("<I", buf, at)
            values.append(buf[at + 4 : at + 4 + n].decode("utf-8", "replace"))
            at += 4 + n
        return values
    fmt = RAW_FORMAT[datatype]
    return list(struct.unpack("<%d%s" % (len(buf) // struct.calcsize(fmt), fmt), buf))


def build_request(pb, spec):
    """A ModelInferRequest carrying the inputs raw (raw_input_contents) or typed (contents)."""
    req = pb.ModelInferRequest(model_name=spec["model"], model_version=spec.get("version", ""), id=spec.get("id", ""))
    for t in spec["inputs"]:
        tensor = req.inputs.add(name=t["name"], datatype=t["datatype"], shape=t["shape"])
        if spec["mode"] == "raw":
            req.raw_input_contents.append(pack_raw(t["datatype"], t["data"]))
        elif t["datatype"] == "BYTES":
            tensor.contents.bytes_contents.extend(s.encode("utf-8") for s in t["data"])
        else:
            getattr(tensor.contents, CONTENTS_FIELD[t["datatype"]]).extend(t["data"])
    return req


def decode_response(res):
    outputs = []
    for i, o in enumerate(res.outputs):
        filled = [f for f in ALL_CONTENTS_FIELDS if len(getattr(o.contents, f)) > 0]
        if i < len(res.raw_output_contents):
            data = unpack_raw(o.datatype, res.raw_output_contents[i])
        elif o.datatype == "BYTES":
            data = [b.decode("utf-8", "replace") for b in o.contents.bytes_contents]
        else:
            data = list(getattr(o.contents, CONTENTS_FIELD.get(o.datatype, "fp32_contents")))
        outputs.append({
            "name": o.name,
            "datatype": o.datatype,
            "shape": list(o.shape),
            "data": [json_value(v) for v in data],
            "contents_fields": filled,
        })
    return {
        "model_name": res.model_name,
        "model_version": res.model_version,
        "id": res.id,
        "raw_output_count": len(res.raw_output_contents),
        "outputs": outputs,
    }


def message_dict(msg):
    """A response message as proto JSON with field names as in the proto and defaults shown."""
    try:
        return json_format.MessageToDict(msg, preserving_proto_field_name=True, including_default_value_fields=True)
    except TypeError:  # protobuf >= 5.26 renamed the option
        return json_format.MessageToDict(msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def metadata_for(step, token):
    which = step.get("credentials", "token")
    if which == "none" or (which == "token" and token is None):
        return []
    if which == "wrong":
        # the job's token with its last character changed: well-formed, wrong secret
        bad = "berth_wrong_0000000000000000" if token is None else token[:-1] + ("B" if token[-1] == "A" else "A")
        return [("authorization", "Bearer " + bad)]
    return [("authorization", "Bearer " + token)]


def failure(err):
    trailing = {}
    for key, value in err.trailing_metadata() or ():
        trailing[key] = value if isinstance(value, str) else value.decode("utf-8", "replace")
    return {"ok": False, "code": err.code().name, "details": err.details(), "trailing": trailing}


def run_step(pb, stub, step, token):
    rpc, md = step["rpc"], metadata_for(step, token)
    try:
        if rpc == "ModelInfer":
            res = stub.ModelInfer(build_request(pb, step["infer"]), metadata=md, timeout=CALL_TIMEOUT_S)
            return {"ok": True, "code": "OK", "response": decode_response(res)}
        if rpc == "ModelStreamInfer":
            # every request is handed over at once: the answers come back as they finish
            requests = [build_request(pb, spec) for spec in step["stream"]]
            answers = []
            for a in stub.ModelStreamInfer(iter(requests), metadata=md, timeout=CALL_TIMEOUT_S):
                answers.append({"error_message": a.error_message, "response": decode_response(a.infer_response)})
            return {"ok": True, "code": "OK", "answers": answers}
        request = json_format.ParseDict(step.get("request", {}), getattr(pb, rpc + "Request")())
        res = getattr(stub, rpc)(request, metadata=md, timeout=CALL_TIMEOUT_S)
        return {"ok": True, "code": "OK", "response": message_dict(res)}
    except grpc.RpcError as err:
        return failure(err)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--proto", required=True, help="path of grpc_predict_v2.proto")
    ap.add_argument("--stubs", required=True, help="an empty directory for the generated modules")
    ap.add_argument("--address", required=True, help="host:port of the gRPC service")
    ap.add_argument("--job", required=True, help="the JSON job file")
    args = ap.parse_args()

    pb, pb_grpc = load_stubs(args.proto, args.stubs)
    with open(args.job, encoding="utf-8") as f:
        job = json.load(f)
    limit = 64 * 1024 * 1024
    with grpc.insecure_channel(args.address, options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)]) as channel:
        grpc.channel_ready_future(channel).result(timeout=20)
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        results = []
        for step in job["steps"]:
            result = run_step(pb, stub, step, job.get("token"))
            result["label"] = step["label"]
            results.append(result)
    json.dump({"python": sys.version.split()[0], "grpcio": grpc.__version__, "steps": results}, sys.stdout, allow_nan=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
