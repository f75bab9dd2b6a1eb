import sys

if "--strict" in sys.argv:
    print("strict check failed", file=sys.stderr)
    sys.exit(5)
