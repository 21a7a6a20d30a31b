"""Text: tokenizer, and the pieces the text pretrain-then-fine-tune experiment builds on."""
