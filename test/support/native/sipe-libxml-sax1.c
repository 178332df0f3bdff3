/*
 * LD_PRELOAD shim for pidgin-sipe on Debian 12 (test harness only; see ../../../docs/decisions/0015-*.md).
 *
 * pidgin-sipe 1.25's XML reader (src/core/sipe-xml.c) hands libxml2 a SAX handler with SAX1 element
 * callbacks (startElement, endElement, characters) but marks it `initialized = XML_SAX2_MAGIC`, to get
 * structured errors. The libxml2 of Debian 12 (2.9.14+dfsg-1.3~deb12u5) then reports no element at
 * all: every document sipe receives (the contact list, presence, roaming-self, provisioning) parses to
 * nothing, so sipe shows no contacts and no presence against any server. This shim gives libxml2 a
 * copy of such a handler marked as the plain SAX1 handler it is (`initialized = 1`); handlers that
 * set the SAX2 callbacks pass through untouched.
 *
 * Written against libxml2's public xmlSAXHandler layout; no libxml2 headers are needed to build it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>

/* libxml2's xmlSAXHandler (libxml/parser.h), as 32 pointer-sized fields. */
typedef struct {
  void *fields[27];
  unsigned int initialized; /* field 27 */
  void *_private;
  void *startElementNs;
  void *endElementNs;
  void *serror;
} sax_handler;

#define SAX2_MAGIC 0xDEEDBEAFu
#define START_ELEMENT 14
#define END_ELEMENT 15

typedef int (*parse_memory)(void *sax, void *user_data, const char *buffer, int size);

int xmlSAXUserParseMemory(void *sax, void *user_data, const char *buffer, int size) {
  static parse_memory real;
  if (!real) real = (parse_memory)dlsym(RTLD_NEXT, "xmlSAXUserParseMemory");
  sax_handler *h = (sax_handler *)sax;
  if (h && h->initialized == SAX2_MAGIC && !h->startElementNs && !h->endElementNs && (h->fields[START_ELEMENT] || h->fields[END_ELEMENT])) {
    sax_handler copy;
    memcpy(&copy, h, sizeof copy);
    copy.initialized = 1;
    return real(&copy, user_data, buffer, size);
  }
  return real(sax, user_data, buffer, size);
}
