def work():
    print("worker says done")
