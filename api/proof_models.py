"""Response models of the proof routes (api/routes/proofs.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

Base64Hash = str


class InclusionProof(BaseModel):
    """RFC 9162 inclusion proof of leaf `leaf_index` (= seq - 1) in the tree of `tree_size`."""

    leaf_index: int = Field(ge=0)
    tree_size: int = Field(ge=1)
    hashes: list[Base64Hash] = Field(description="base64 SHA-256 hashes, from the leaf's "
                                                 "sibling up to the root's child")


class ConsistencyProof(BaseModel):
    """RFC 9162 consistency proof from the tree of `from` records to the tree of `to`."""

    model_config = ConfigDict(populate_by_name=True)

    from_: int = Field(alias="from", ge=1)
    to: int = Field(ge=1)
    hashes: list[Base64Hash] = Field(description="base64 SHA-256 hashes, in RFC 9162 order")


class InclusionProofPage(BaseModel):
    """The inclusion proofs of consecutive records in one tree, a page at a time."""

    items: list[InclusionProof]
    next: str | None = Field(description="pass as `after` for the next page; null at the end")
