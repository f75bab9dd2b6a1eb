import csv
import io
import statistics
import zlib


def report(events, context):
    rows = list(csv.DictReader(io.StringIO(events["rows"])))
    crc = zlib.crc32(events["rows"].encode())
    return {
        "mean": statistics.mean(int(r["score"]) for r in rows),
        "names": [r["name"] for r in rows],
        "digest": f"{crc:08x}{len(rows):08x}",
    }
