"""The local extension (``my_ext: ./my_ext``): a runnable combining a class of each other extension."""

import json
from pathlib import Path

import torchon


class Report(torchon.Runnable):
    """Applies ``transform`` to each of ``data``'s values and writes them, with their sum, to result.json."""

    def __init__(self, data, transform) -> None:
        self.data = data
        self.transform = transform

    def run(self) -> None:
        values = [self.transform(v) for v in self.data.values()]
        result = {"values": values, "total": sum(values)}
        (Path(torchon.get_env().output_dir) / "result.json").write_text(json.dumps(result))
        print(json.dumps(result))
