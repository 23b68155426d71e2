raise RuntimeError("this extension is broken on purpose")
