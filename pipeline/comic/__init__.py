"""A movie as comic pages: one keyframe per shot, stylized by the conversion chain, laid out with captions."""
