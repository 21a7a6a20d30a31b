"""Text pretrain-then-fine-tune configs: `--config=experiments/configs/text_pretrain_finetune.py:VARIANT`.

The variants live in jaxunsup/configs/text_pretrain_finetune.py so that notebooks and tests can import them.
"""

from jaxunsup.configs.text_pretrain_finetune import get_config  # noqa: F401
