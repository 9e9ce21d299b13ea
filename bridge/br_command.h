#ifndef BR_COMMAND_H
#define BR_COMMAND_H

/*
 * Text commands a user sends the Mail contact, for clients without ad-hoc
 * command support (claim 2, claim 8's manual check):
 *
 *   help                      what the commands are
 *   settings                  show my settings
 *   set <name> <value>        change one (set notify off, set hold_when
 *                             away); "set <name> default" goes back to
 *                             the organisation's default
 *   check                     an immediate summary of my mailbox
 *   nudge                     remind every recipient of the mail I sent
 *                             last to check their mail (issue 8)
 *   nudge <name>              remind one of them: name is an address, a
 *                             localpart or a JID (matching it to a
 *                             recipient, ASCII case-insensitive, is the
 *                             caller's)
 *
 * Parsing only (pure, no I/O): ASCII case-insensitive, white space
 * anywhere around words, a leading '/' or '!' allowed (habits from other
 * bots). Anything else is UNKNOWN, with the first word kept (cleaned,
 * bounded) for the reply.
 */

#include <stddef.h>

enum br_command_kind {
	BR_COMMAND_NONE, /* empty or only white space */
	BR_COMMAND_HELP,
	BR_COMMAND_SETTINGS,
	BR_COMMAND_SET, /* name, value */
	BR_COMMAND_CHECK,
	BR_COMMAND_UNKNOWN, /* word: the first word, for the reply */
	BR_COMMAND_BAD_SET, /* "set" without a name and a value */
	/* word: "" for every recipient, else the name of one. */
	BR_COMMAND_NUDGE,
	/* "nudge" with more than one word after it, or a name that is too
	   long or cleans to nothing (word ""). */
	BR_COMMAND_BAD_NUDGE,
};

#define BR_COMMAND_WORD_MAX 40
/* Bytes of a nudge name (an address is at most 254). */
#define BR_COMMAND_NAME_MAX 400

struct br_command {
	enum br_command_kind kind;
	/* Lower-cased ASCII, cut to BR_COMMAND_WORD_MAX bytes; UNKNOWN's word
	   is clean one-line UTF-8 instead (at most BR_COMMAND_WORD_MAX * 2
	   bytes); NUDGE's word is the name as written (case kept), cleaned
	   one-line UTF-8 (ut_utf8_clean(): no controls, no bidi or invisible
	   characters) without white space, at most BR_COMMAND_NAME_MAX
	   bytes. */
	char name[BR_COMMAND_WORD_MAX + 1];
	char value[BR_COMMAND_WORD_MAX + 1];
	char word[BR_COMMAND_NAME_MAX + 1];
};

/* Parses text[0..len) (any bytes). Never fails: see the kinds. */
void br_command_parse(const char *text, size_t len, struct br_command *c);

#endif
