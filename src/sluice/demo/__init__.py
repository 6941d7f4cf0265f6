"""Demo warehouse (synthetic "thelook" e-commerce data) and its Omni semantic model."""
