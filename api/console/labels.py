"""The ledger's closed vocabularies as people read them (translated where they are shown)."""

from __future__ import annotations

from api.console.i18n import N_

VOCABULARY: dict[str, dict[str, str]] = {
    "resource_kind": {"time": N_("volunteer time"), "service": N_("professional service"),
                      "space": N_("space"), "money": N_("money"), "goods": N_("goods")},
    "actor_kind": {"citizen": N_("citizen"), "household": N_("household"),
                   "company": N_("company"), "ets": N_("third-sector body (ETS)"),
                   "municipality": N_("municipality"), "institution": N_("institution")},
    "status": {"open": N_("open"), "partly_matched": N_("partly matched"),
               "fully_matched": N_("fully matched"), "met": N_("met"),
               "pledged": N_("available"), "partly_allocated": N_("partly allocated"),
               "fully_allocated": N_("fully allocated"), "fulfilled": N_("fulfilled"),
               "withdrawn": N_("withdrawn"), "expired": N_("expired"),
               "proposed": N_("waiting for approval"), "reserved": N_("reserved"),
               "partly_fulfilled": N_("partly delivered"), "closed": N_("closed"),
               "cancelled": N_("cancelled"), "rejected": N_("rejected")},
    "urgency": {"low": N_("low"), "normal": N_("normal"), "high": N_("high"),
                "critical": N_("critical")},
    "change": {"none": N_("no change"), "connect": N_("connect"), "improve": N_("improve"),
               "transform": N_("transform"), "not_given": N_("not given")},
    "how": {"cash": N_("cash"), "time": N_("employee time"), "in_kind": N_("in kind"),
            "management_costs": N_("management costs")},
    "why": {"charitable_gift": N_("charitable gift"),
            "community_investment": N_("community investment"),
            "commercial_initiative": N_("commercial initiative"),
            "unclassified": N_("unclassified")},
    "source": {"public": N_("public funds"), "philanthropy": N_("philanthropy"),
               "civic_crowdfunding": N_("civic crowdfunding"),
               "five_per_thousand": N_("5 per thousand"),
               "corporate_welfare": N_("corporate welfare"), "donation": N_("donations"),
               "citizen": N_("citizens"), "household": N_("households"),
               "company": N_("companies"), "ets": N_("third-sector bodies"),
               "municipality": N_("the Comune"), "institution": N_("institutions")},
    "event": {"territory.registered": N_("territory registered"),
              "territory.theme_defined": N_("theme defined"),
              "territory.approval_policy_set": N_("approval policy set"),
              "territory.programme_defined": N_("programme defined"),
              "actor.registered": N_("registered"), "actor.erased": N_("data erased"),
              "actor.management_cost_recorded": N_("management cost recorded"),
              "contribution.pledged": N_("offer pledged"),
              "contribution.allocated": N_("offer allocated to a match"),
              "contribution.released": N_("offer released"),
              "contribution.delivered": N_("offer delivered"),
              "contribution.delivery_reversed": N_("delivery of the offer reversed"),
              "contribution.withdrawn": N_("offer withdrawn"),
              "contribution.expired": N_("offer expired"),
              "request.posted": N_("need posted"), "request.reserved": N_("need matched"),
              "request.released": N_("need released"), "request.received": N_("help received"),
              "request.receipt_reversed": N_("help received reversed"),
              "request.withdrawn": N_("need withdrawn"), "request.expired": N_("need expired"),
              "match.reserved": N_("match made"), "match.proposed": N_("match proposed"),
              "match.approved": N_("match approved"), "match.rejected": N_("match rejected"),
              "match.fulfilled": N_("match delivered"),
              "match.fulfilment_reversed": N_("match delivery reversed"),
              "match.cancelled": N_("match cancelled"),
              "fulfilment.recorded": N_("delivery recorded"),
              "fulfilment.reversed": N_("delivery reversed"),
              "fulfilment.feedback_recorded": N_("feedback recorded")},
}


def label(vocabulary: str, value: str | None) -> str | None:
    """The untranslated label of a value, or the value itself when the vocabulary lacks it."""
    if value is None:
        return None
    if vocabulary == "event":
        value = value.removeprefix("it.ledger.").rsplit(".v", 1)[0]
    return VOCABULARY[vocabulary].get(value, value)


def sentence(text: str) -> str:
    """A label at the start of a line: its first letter in upper case."""
    return text[:1].upper() + text[1:]
