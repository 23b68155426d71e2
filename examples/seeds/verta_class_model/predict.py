"""Load the exported class model in a fresh process and score texts: python predict.py [URI]

VocabModel is a torchon.Component, so no allow= is needed; its module must be importable (it is here: python puts
this script's folder on the import path).
"""

import json
import sys

import torchon

model = torchon.load(sys.argv[1] if len(sys.argv) > 1 else "bundles/vocab_model")
print(
    json.dumps(model.predict(["good film", "bad plot", "great great film", "boring", "words it never saw"]))
)
