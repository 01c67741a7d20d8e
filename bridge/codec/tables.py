"""Wire code tables of WSP (WAP-230-WSP, Appendix A) and the IANA character sets used in them.

Each table is an `IntEnum` named after the spec table it copies, so that no magic octet appears elsewhere in
the codec. Values are the *assigned numbers*; on the wire a short-integer sets the high bit (0x3E -> 0xBE).
"""

from __future__ import annotations

from enum import IntEnum


class WellKnownMedia(IntEnum):
    """WAP-230-WSP Table 40, "Content Type Assignments" (with the WINA/OMNA additions up to 0x4E)."""

    ANY = 0x00
    TEXT_ANY = 0x01
    TEXT_HTML = 0x02
    TEXT_PLAIN = 0x03
    TEXT_X_HDML = 0x04
    TEXT_X_TTML = 0x05
    TEXT_X_VCALENDAR = 0x06
    TEXT_X_VCARD = 0x07
    TEXT_VND_WAP_WML = 0x08
    TEXT_VND_WAP_WMLSCRIPT = 0x09
    TEXT_VND_WAP_WTA_EVENT = 0x0A
    MULTIPART_ANY = 0x0B
    MULTIPART_MIXED = 0x0C
    MULTIPART_FORM_DATA = 0x0D
    MULTIPART_BYTERANGES = 0x0E
    MULTIPART_ALTERNATIVE = 0x0F
    APPLICATION_ANY = 0x10
    APPLICATION_JAVA_VM = 0x11
    APPLICATION_X_WWW_FORM_URLENCODED = 0x12
    APPLICATION_X_HDMLC = 0x13
    APPLICATION_VND_WAP_WMLC = 0x14
    APPLICATION_VND_WAP_WMLSCRIPTC = 0x15
    APPLICATION_VND_WAP_WTA_EVENTC = 0x16
    APPLICATION_VND_WAP_UAPROF = 0x17
    APPLICATION_VND_WAP_WTLS_CA_CERTIFICATE = 0x18
    APPLICATION_VND_WAP_WTLS_USER_CERTIFICATE = 0x19
    APPLICATION_X_X509_CA_CERT = 0x1A
    APPLICATION_X_X509_USER_CERT = 0x1B
    IMAGE_ANY = 0x1C
    IMAGE_GIF = 0x1D
    IMAGE_JPEG = 0x1E
    IMAGE_TIFF = 0x1F
    IMAGE_PNG = 0x20
    IMAGE_VND_WAP_WBMP = 0x21
    APPLICATION_VND_WAP_MULTIPART_ANY = 0x22
    APPLICATION_VND_WAP_MULTIPART_MIXED = 0x23
    APPLICATION_VND_WAP_MULTIPART_FORM_DATA = 0x24
    APPLICATION_VND_WAP_MULTIPART_BYTERANGES = 0x25
    APPLICATION_VND_WAP_MULTIPART_ALTERNATIVE = 0x26
    APPLICATION_XML = 0x27
    TEXT_XML = 0x28
    APPLICATION_VND_WAP_WBXML = 0x29
    APPLICATION_X_X968_CROSS_CERT = 0x2A
    APPLICATION_X_X968_CA_CERT = 0x2B
    APPLICATION_X_X968_USER_CERT = 0x2C
    TEXT_VND_WAP_SI = 0x2D
    APPLICATION_VND_WAP_SIC = 0x2E
    TEXT_VND_WAP_SL = 0x2F
    APPLICATION_VND_WAP_SLC = 0x30
    TEXT_VND_WAP_CO = 0x31
    APPLICATION_VND_WAP_COC = 0x32
    APPLICATION_VND_WAP_MULTIPART_RELATED = 0x33
    APPLICATION_VND_WAP_SIA = 0x34
    TEXT_VND_WAP_CONNECTIVITY_XML = 0x35
    APPLICATION_VND_WAP_CONNECTIVITY_WBXML = 0x36
    APPLICATION_PKCS7_MIME = 0x37
    APPLICATION_VND_WAP_HASHED_CERTIFICATE = 0x38
    APPLICATION_VND_WAP_SIGNED_CERTIFICATE = 0x39
    APPLICATION_VND_WAP_CERT_RESPONSE = 0x3A
    APPLICATION_XHTML_XML = 0x3B
    APPLICATION_WML_XML = 0x3C
    TEXT_CSS = 0x3D
    APPLICATION_VND_WAP_MMS_MESSAGE = 0x3E
    APPLICATION_VND_WAP_ROLLOVER_CERTIFICATE = 0x3F
    APPLICATION_VND_WAP_LOCC_WBXML = 0x40
    APPLICATION_VND_WAP_LOC_XML = 0x41
    APPLICATION_VND_SYNCML_DM_WBXML = 0x42
    APPLICATION_VND_SYNCML_DM_XML = 0x43
    APPLICATION_VND_SYNCML_NOTIFICATION = 0x44
    APPLICATION_VND_WAP_XHTML_XML = 0x45
    APPLICATION_VND_WV_CSP_CIR = 0x46
    APPLICATION_VND_OMA_DD_XML = 0x47
    APPLICATION_VND_OMA_DRM_MESSAGE = 0x48
    APPLICATION_VND_OMA_DRM_CONTENT = 0x49
    APPLICATION_VND_OMA_DRM_RIGHTS_XML = 0x4A
    APPLICATION_VND_OMA_DRM_RIGHTS_WBXML = 0x4B
    APPLICATION_VND_WV_CSP_XML = 0x4C
    APPLICATION_VND_WV_CSP_WBXML = 0x4D
    APPLICATION_VND_SYNCML_DS_NOTIFICATION = 0x4E

    @property
    def media_type(self) -> str:
        return _MEDIA_NAMES[self]


_MEDIA_NAMES: dict[WellKnownMedia, str] = {
    WellKnownMedia.ANY: "*/*",
    WellKnownMedia.TEXT_ANY: "text/*",
    WellKnownMedia.TEXT_HTML: "text/html",
    WellKnownMedia.TEXT_PLAIN: "text/plain",
    WellKnownMedia.TEXT_X_HDML: "text/x-hdml",
    WellKnownMedia.TEXT_X_TTML: "text/x-ttml",
    WellKnownMedia.TEXT_X_VCALENDAR: "text/x-vCalendar",
    WellKnownMedia.TEXT_X_VCARD: "text/x-vCard",
    WellKnownMedia.TEXT_VND_WAP_WML: "text/vnd.wap.wml",
    WellKnownMedia.TEXT_VND_WAP_WMLSCRIPT: "text/vnd.wap.wmlscript",
    WellKnownMedia.TEXT_VND_WAP_WTA_EVENT: "text/vnd.wap.wta-event",
    WellKnownMedia.MULTIPART_ANY: "multipart/*",
    WellKnownMedia.MULTIPART_MIXED: "multipart/mixed",
    WellKnownMedia.MULTIPART_FORM_DATA: "multipart/form-data",
    WellKnownMedia.MULTIPART_BYTERANGES: "multipart/byteranges",
    WellKnownMedia.MULTIPART_ALTERNATIVE: "multipart/alternative",
    WellKnownMedia.APPLICATION_ANY: "application/*",
    WellKnownMedia.APPLICATION_JAVA_VM: "application/java-vm",
    WellKnownMedia.APPLICATION_X_WWW_FORM_URLENCODED: "application/x-www-form-urlencoded",
    WellKnownMedia.APPLICATION_X_HDMLC: "application/x-hdmlc",
    WellKnownMedia.APPLICATION_VND_WAP_WMLC: "application/vnd.wap.wmlc",
    WellKnownMedia.APPLICATION_VND_WAP_WMLSCRIPTC: "application/vnd.wap.wmlscriptc",
    WellKnownMedia.APPLICATION_VND_WAP_WTA_EVENTC: "application/vnd.wap.wta-eventc",
    WellKnownMedia.APPLICATION_VND_WAP_UAPROF: "application/vnd.wap.uaprof",
    WellKnownMedia.APPLICATION_VND_WAP_WTLS_CA_CERTIFICATE: "application/vnd.wap.wtls-ca-certificate",
    WellKnownMedia.APPLICATION_VND_WAP_WTLS_USER_CERTIFICATE: "application/vnd.wap.wtls-user-certificate",
    WellKnownMedia.APPLICATION_X_X509_CA_CERT: "application/x-x509-ca-cert",
    WellKnownMedia.APPLICATION_X_X509_USER_CERT: "application/x-x509-user-cert",
    WellKnownMedia.IMAGE_ANY: "image/*",
    WellKnownMedia.IMAGE_GIF: "image/gif",
    WellKnownMedia.IMAGE_JPEG: "image/jpeg",
    WellKnownMedia.IMAGE_TIFF: "image/tiff",
    WellKnownMedia.IMAGE_PNG: "image/png",
    WellKnownMedia.IMAGE_VND_WAP_WBMP: "image/vnd.wap.wbmp",
    WellKnownMedia.APPLICATION_VND_WAP_MULTIPART_ANY: "application/vnd.wap.multipart.*",
    WellKnownMedia.APPLICATION_VND_WAP_MULTIPART_MIXED: "application/vnd.wap.multipart.mixed",
    WellKnownMedia.APPLICATION_VND_WAP_MULTIPART_FORM_DATA: "application/vnd.wap.multipart.form-data",
    WellKnownMedia.APPLICATION_VND_WAP_MULTIPART_BYTERANGES: "application/vnd.wap.multipart.byteranges",
    WellKnownMedia.APPLICATION_VND_WAP_MULTIPART_ALTERNATIVE: "application/vnd.wap.multipart.alternative",
    WellKnownMedia.APPLICATION_XML: "application/xml",
    WellKnownMedia.TEXT_XML: "text/xml",
    WellKnownMedia.APPLICATION_VND_WAP_WBXML: "application/vnd.wap.wbxml",
    WellKnownMedia.APPLICATION_X_X968_CROSS_CERT: "application/x-x968-cross-cert",
    WellKnownMedia.APPLICATION_X_X968_CA_CERT: "application/x-x968-ca-cert",
    WellKnownMedia.APPLICATION_X_X968_USER_CERT: "application/x-x968-user-cert",
    WellKnownMedia.TEXT_VND_WAP_SI: "text/vnd.wap.si",
    WellKnownMedia.APPLICATION_VND_WAP_SIC: "application/vnd.wap.sic",
    WellKnownMedia.TEXT_VND_WAP_SL: "text/vnd.wap.sl",
    WellKnownMedia.APPLICATION_VND_WAP_SLC: "application/vnd.wap.slc",
    WellKnownMedia.TEXT_VND_WAP_CO: "text/vnd.wap.co",
    WellKnownMedia.APPLICATION_VND_WAP_COC: "application/vnd.wap.coc",
    WellKnownMedia.APPLICATION_VND_WAP_MULTIPART_RELATED: "application/vnd.wap.multipart.related",
    WellKnownMedia.APPLICATION_VND_WAP_SIA: "application/vnd.wap.sia",
    WellKnownMedia.TEXT_VND_WAP_CONNECTIVITY_XML: "text/vnd.wap.connectivity-xml",
    WellKnownMedia.APPLICATION_VND_WAP_CONNECTIVITY_WBXML: "application/vnd.wap.connectivity-wbxml",
    WellKnownMedia.APPLICATION_PKCS7_MIME: "application/pkcs7-mime",
    WellKnownMedia.APPLICATION_VND_WAP_HASHED_CERTIFICATE: "application/vnd.wap.hashed-certificate",
    WellKnownMedia.APPLICATION_VND_WAP_SIGNED_CERTIFICATE: "application/vnd.wap.signed-certificate",
    WellKnownMedia.APPLICATION_VND_WAP_CERT_RESPONSE: "application/vnd.wap.cert-response",
    WellKnownMedia.APPLICATION_XHTML_XML: "application/xhtml+xml",
    WellKnownMedia.APPLICATION_WML_XML: "application/wml+xml",
    WellKnownMedia.TEXT_CSS: "text/css",
    WellKnownMedia.APPLICATION_VND_WAP_MMS_MESSAGE: "application/vnd.wap.mms-message",
    WellKnownMedia.APPLICATION_VND_WAP_ROLLOVER_CERTIFICATE: "application/vnd.wap.rollover-certificate",
    WellKnownMedia.APPLICATION_VND_WAP_LOCC_WBXML: "application/vnd.wap.locc+wbxml",
    WellKnownMedia.APPLICATION_VND_WAP_LOC_XML: "application/vnd.wap.loc+xml",
    WellKnownMedia.APPLICATION_VND_SYNCML_DM_WBXML: "application/vnd.syncml.dm+wbxml",
    WellKnownMedia.APPLICATION_VND_SYNCML_DM_XML: "application/vnd.syncml.dm+xml",
    WellKnownMedia.APPLICATION_VND_SYNCML_NOTIFICATION: "application/vnd.syncml.notification",
    WellKnownMedia.APPLICATION_VND_WAP_XHTML_XML: "application/vnd.wap.xhtml+xml",
    WellKnownMedia.APPLICATION_VND_WV_CSP_CIR: "application/vnd.wv.csp.cir",
    WellKnownMedia.APPLICATION_VND_OMA_DD_XML: "application/vnd.oma.dd+xml",
    WellKnownMedia.APPLICATION_VND_OMA_DRM_MESSAGE: "application/vnd.oma.drm.message",
    WellKnownMedia.APPLICATION_VND_OMA_DRM_CONTENT: "application/vnd.oma.drm.content",
    WellKnownMedia.APPLICATION_VND_OMA_DRM_RIGHTS_XML: "application/vnd.oma.drm.rights+xml",
    WellKnownMedia.APPLICATION_VND_OMA_DRM_RIGHTS_WBXML: "application/vnd.oma.drm.rights+wbxml",
    WellKnownMedia.APPLICATION_VND_WV_CSP_XML: "application/vnd.wv.csp+xml",
    WellKnownMedia.APPLICATION_VND_WV_CSP_WBXML: "application/vnd.wv.csp+wbxml",
    WellKnownMedia.APPLICATION_VND_SYNCML_DS_NOTIFICATION: "application/vnd.syncml.ds.notification",
}

#: media type (lower case) -> its well-known code, for the encoder
MEDIA_CODES: dict[str, WellKnownMedia] = {name.lower(): code for code, name in _MEDIA_NAMES.items()}


class WellKnownParameter(IntEnum):
    """WAP-230-WSP Table 38, "Well-Known Parameter Assignments" (encoding versions 1.1 to 1.4)."""

    Q = 0x00
    CHARSET = 0x01
    LEVEL = 0x02
    TYPE = 0x03
    NAME_DEPRECATED = 0x05
    FILENAME_DEPRECATED = 0x06
    DIFFERENCES = 0x07
    PADDING = 0x08
    TYPE_MULTIPART_RELATED = 0x09
    START_DEPRECATED = 0x0A
    START_INFO_DEPRECATED = 0x0B
    COMMENT_DEPRECATED = 0x0C
    DOMAIN_DEPRECATED = 0x0D
    MAX_AGE = 0x0E
    PATH_DEPRECATED = 0x0F
    SECURE = 0x10
    SEC = 0x11
    MAC = 0x12
    CREATION_DATE = 0x13
    MODIFICATION_DATE = 0x14
    READ_DATE = 0x15
    SIZE = 0x16
    NAME = 0x17
    FILENAME = 0x18
    START = 0x19
    START_INFO = 0x1A
    COMMENT = 0x1B
    DOMAIN = 0x1C
    PATH = 0x1D


class WspHeaderField(IntEnum):
    """WAP-230-WSP Table 39, "Header Field Name Assignments" (the fields MMS parts and pushes carry)."""

    ACCEPT = 0x00
    CONTENT_LENGTH = 0x0D
    CONTENT_LOCATION = 0x0E
    CONTENT_TYPE = 0x11
    DATE = 0x12
    CONTENT_DISPOSITION = 0x2E
    X_WAP_APPLICATION_ID = 0x2F
    X_WAP_CONTENT_URI = 0x30
    X_WAP_INITIATOR_URI = 0x31
    PUSH_FLAG = 0x34
    CONTENT_ID = 0x40
    ENCODING_VERSION = 0x43
    CONTENT_DISPOSITION_1_4 = 0x45


class PushApplicationId(IntEnum):
    """WINA/OMNA "Push Application ID" registry (the well-known X-Wap-Application-Id codes)."""

    ANY = 0x00
    PUSH_SIA = 0x01
    WML_UA = 0x02
    WTA_UA = 0x03
    MMS_UA = 0x04
    PUSH_SYNCML = 0x05
    LOC_UA = 0x06
    SYNCML_DM = 0x07
    DRM_UA = 0x08
    EMN_UA = 0x09
    WV_UA = 0x0A


class WspPduType(IntEnum):
    """WAP-230-WSP Table 34, "PDU Type Assignments" (the ones a connectionless push uses)."""

    PUSH = 0x06
    CONFIRMED_PUSH = 0x07


class Charset(IntEnum):
    """IANA character-set MIBenum values (the registry WSP's Well-known-charset refers to)."""

    US_ASCII = 3
    ISO_8859_1 = 4
    ISO_8859_2 = 5
    ISO_8859_3 = 6
    ISO_8859_4 = 7
    ISO_8859_5 = 8
    ISO_8859_6 = 9
    ISO_8859_7 = 10
    ISO_8859_8 = 11
    ISO_8859_9 = 12
    ISO_8859_10 = 13
    SHIFT_JIS = 17
    EUC_JP = 18
    ISO_2022_KR = 37
    EUC_KR = 38
    ISO_2022_JP = 39
    ISO_2022_JP_2 = 40
    ISO_8859_6_I = 85
    ISO_8859_8_I = 86
    UTF_8 = 106
    ISO_8859_13 = 109
    ISO_8859_14 = 110
    ISO_8859_15 = 111
    ISO_8859_16 = 112
    GBK = 113
    GB18030 = 114
    ISO_10646_UCS_2 = 1000
    UTF_7 = 1012
    UTF_16BE = 1013
    UTF_16LE = 1014
    UTF_16 = 1015
    UTF_32 = 1017
    UTF_32BE = 1018
    UTF_32LE = 1019
    GB2312 = 2025
    BIG5 = 2026
    MACINTOSH = 2027
    IBM437 = 2011
    IBM850 = 2009
    IBM866 = 2086
    KOI8_R = 2084
    KOI8_U = 2088
    BIG5_HKSCS = 2101
    WINDOWS_1250 = 2250
    WINDOWS_1251 = 2251
    WINDOWS_1252 = 2252
    WINDOWS_1253 = 2253
    WINDOWS_1254 = 2254
    WINDOWS_1255 = 2255
    WINDOWS_1256 = 2256
    WINDOWS_1257 = 2257
    WINDOWS_1258 = 2258
    TIS_620 = 2259


#: MIBenum -> Python codec name
PYTHON_CODECS: dict[int, str] = {
    Charset.US_ASCII: "ascii",
    Charset.ISO_8859_1: "latin-1",
    Charset.ISO_8859_2: "iso8859-2",
    Charset.ISO_8859_3: "iso8859-3",
    Charset.ISO_8859_4: "iso8859-4",
    Charset.ISO_8859_5: "iso8859-5",
    Charset.ISO_8859_6: "iso8859-6",
    Charset.ISO_8859_7: "iso8859-7",
    Charset.ISO_8859_8: "iso8859-8",
    Charset.ISO_8859_9: "iso8859-9",
    Charset.ISO_8859_10: "iso8859-10",
    Charset.SHIFT_JIS: "shift_jis",
    Charset.EUC_JP: "euc_jp",
    Charset.ISO_2022_KR: "iso2022_kr",
    Charset.EUC_KR: "euc_kr",
    Charset.ISO_2022_JP: "iso2022_jp",
    Charset.ISO_2022_JP_2: "iso2022_jp_2",
    Charset.ISO_8859_6_I: "iso8859-6",
    Charset.ISO_8859_8_I: "iso8859-8",
    Charset.UTF_8: "utf-8",
    Charset.ISO_8859_13: "iso8859-13",
    Charset.ISO_8859_14: "iso8859-14",
    Charset.ISO_8859_15: "iso8859-15",
    Charset.ISO_8859_16: "iso8859-16",
    Charset.GBK: "gbk",
    Charset.GB18030: "gb18030",
    Charset.ISO_10646_UCS_2: "utf-16-be",
    Charset.UTF_7: "utf-7",
    Charset.UTF_16BE: "utf-16-be",
    Charset.UTF_16LE: "utf-16-le",
    Charset.UTF_16: "utf-16",
    Charset.UTF_32: "utf-32",
    Charset.UTF_32BE: "utf-32-be",
    Charset.UTF_32LE: "utf-32-le",
    Charset.GB2312: "gb18030",  # mail and MMS senders label GB18030 text as GB2312; GB18030 is a superset
    Charset.BIG5: "big5",
    Charset.MACINTOSH: "mac-roman",
    Charset.IBM437: "cp437",
    Charset.IBM850: "cp850",
    Charset.IBM866: "cp866",
    Charset.KOI8_R: "koi8-r",
    Charset.KOI8_U: "koi8-u",
    Charset.BIG5_HKSCS: "big5hkscs",
    Charset.WINDOWS_1250: "cp1250",
    Charset.WINDOWS_1251: "cp1251",
    Charset.WINDOWS_1252: "cp1252",
    Charset.WINDOWS_1253: "cp1253",
    Charset.WINDOWS_1254: "cp1254",
    Charset.WINDOWS_1255: "cp1255",
    Charset.WINDOWS_1256: "cp1256",
    Charset.WINDOWS_1257: "cp1257",
    Charset.WINDOWS_1258: "cp1258",
    Charset.TIS_620: "tis-620",
}

#: IANA preferred names (lower case) -> MIBenum, for content-type `charset=` parameters
CHARSET_NAMES: dict[str, int] = {member.name.lower().replace("_", "-"): member.value for member in Charset} | {
    "iso-10646-ucs-2": Charset.ISO_10646_UCS_2,
    "shift_jis": Charset.SHIFT_JIS,
    "latin1": Charset.ISO_8859_1,
}


def charset_name(mib: int) -> str:
    """The IANA-style name of a MIBenum, or `mib-<n>` when this table does not know it."""
    try:
        return Charset(mib).name.lower().replace("_", "-")
    except ValueError:
        return f"mib-{mib}"
