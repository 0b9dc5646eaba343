"""Reading, decoding, batching, stylizing, writing and manifests of a conversion run on Ray Data."""
