"""Hatch build hook that bundles a trained model into a wheel, and its GitLab publisher."""
