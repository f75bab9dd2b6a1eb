"""AWS-RunRemoteScript's mainFile.py: a command line with arguments that
uses another file of its folder and writes into its working directory."""

import sys

from lib.greet import greeting

names = sys.argv[1:] or ["world"]
for name in names:
    print(greeting(name))
with open("greeted.txt", "a") as log:
    log.write(",".join(names) + "\n")
if "fail" in names:
    print("asked to fail", file=sys.stderr)
    sys.exit(3)
