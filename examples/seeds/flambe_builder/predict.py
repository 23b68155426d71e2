"""Load the exported engine in a fresh process and predict with keywords, as a served request would:

    python predict.py                 # bundles/classifier
    python predict.py s3://my-bucket  # the S3 export (torchon-s3 installed, AWS settings in the environment)

``inference`` is not importable from here: ``allow=["inference"]`` lets the bundle build the plain engine class
and import the extension from the path it recorded when it was saved.
"""

import json
import sys

import torchon

uri = sys.argv[1] if len(sys.argv) > 1 else "bundles/classifier"
engine = torchon.load(uri, allow=["inference"])
rows = [(2.0, -1.0), (-1.0, 2.0), (0.3, 0.1)]
print(json.dumps([engine.predict(feature_1=a, feature_2=b) for a, b in rows]))
