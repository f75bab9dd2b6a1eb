import sys

import worker

print("args:", " ".join(sys.argv[1:]))
worker.work()
