"""placeholder: see DESIGN.md"""
