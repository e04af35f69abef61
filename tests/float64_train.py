"""``python tests/float64_train.py ARGS``: ``actionzoo ARGS`` with float64 as torch's default dtype,
so that a test can compare two training runs' arithmetic without float32 rounding (see
tests/test_training_sync.py). Runs under torchrun like ``-m actionzoo``."""

import sys

import torch

if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    from actionzoo.cli.main import main

    sys.exit(main(sys.argv[1:]))
