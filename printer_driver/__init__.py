"""Receipt printing for the hall: Chinese ESC/POS slips through a durable spooler.

Plain data in, bytes out; no import of the server. The server keeps the jobs (a `JobStore`),
builds a `Spooler` per printer from a transport and a profile, and queues jobs whose `kind` is
a layout name and whose `data` is that layout's dict.

    document.py   the slip model            layouts.py    data → Document (ticket, receipts, notices)
    render.py     Document → ESC/POS        profiles.py   printer capabilities as data
    transports.py network/serial/USB/file   status.py     DLE EOT status
    spooler.py    the job loop, JobStore    simulator.py  a printer on 127.0.0.1 with PNG previews
    decode.py     ESC/POS → slips → PNG     i18n.py       every printed text, zh-CN and en
"""
from printer_driver.document import QR, Barcode, Cut, Document, Feed, Image, Rule, Text
from printer_driver.i18n import t
from printer_driver.layouts import (LAYOUTS, acceptance_receipt, build_document, missing_materials_notice,
                                    refusal_notice, ticket_slip)
from printer_driver.profiles import PAPER_58MM, PAPER_80MM, PROFILES, PrinterProfile, profile_from_dict
from printer_driver.render import Renderer, render
from printer_driver.spooler import Job, JobStore, Spooler, SpoolerConfig
from printer_driver.status import PrinterStatus
from printer_driver.transports import NoResponse, Transport, TransportError, make_transport

__all__ = [
    "QR", "Barcode", "Cut", "Document", "Feed", "Image", "Rule", "Text", "t", "LAYOUTS", "acceptance_receipt",
    "build_document", "missing_materials_notice", "refusal_notice", "ticket_slip", "PAPER_58MM", "PAPER_80MM",
    "PROFILES", "PrinterProfile", "profile_from_dict", "Renderer", "render", "Job", "JobStore", "Spooler",
    "SpoolerConfig", "PrinterStatus", "NoResponse", "Transport", "TransportError", "make_transport",
]
