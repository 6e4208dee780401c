/*
 * classify.c — what a remote reply most likely means, from one ordered table.
 *
 * classify()        map (code, enhanced status, text) to a category, a label and two
 *                   explanations: for the sender (DSNs) and for the operator
 * classify_local()  the same for relayd's own reasons, from a second table
 * classify_row()    one row of either table, for the tests that read every text
 * classify_name()   the category's stable name (for JSON and metrics)
 *
 * Every row has two texts. admin (the ex_ texts) says what it means and what to do
 * in relayd's terms (transports, relay, fallback, DNS records): the log and
 * relayctl show it. sender (the sx_ texts) is for the person who gets the DSN and
 * is no mail administrator: plain words, whether it is about the message, the
 * recipient or the sending mail system, and what they can do (check the address,
 * try later, tell their IT team); never relayd's configuration.
 *
 * rules[] is read top to bottom and the first row that matches wins, so the most
 * specific rows come first: a named blocklist before a provider's own reputation
 * block, both before the generic "blocked using"/"block list" row, and all of them
 * before the categories a listing's text may also mention (relay, spam, policy).
 * The text wins over a bare code or status that disagrees with it: every row that
 * reads the text comes before the rows that go by an enhanced status alone (5.1.1,
 * 5.7.606, 4.7.650), and those before the rows that have only a code to go by (421,
 * 552, 530). So "550 5.1.1 ... has sent to too many recipients this hour" is a rate
 * limit, and "552 Too many recipients" is not a message that is too large.
 *
 * Each row names where its texts were published: a provider's or an MTA's own
 * documentation or source where there is one, otherwise a public bounce or a
 * bounce parser's pattern list (see "Sources" above rules[]).
 *
 * A row of kind CLASS_NONE also stops the search: it keeps a reply that looks
 * like a category out of it.
 *
 * TEXT may be the reply's text or its verbatim lines joined (reply.c's line, which
 * relayd logs and keeps): the code and status that start each line are skipped.
 *
 * Invariants: pure, no allocation, no I/O, no state; every string returned is
 * static. TEXT and STATUS may hold any bytes and be NULL; at most CLASSIFY_SCAN
 * bytes of TEXT are looked at (a reply from reply.c is shorter), nothing is read
 * past its NUL, and the one buffer, on the stack, holds that much. A code outside
 * 400..599 (a success, or 0 for a local failure) is always CLASS_NONE with no texts
 * (classify_local() is for those); CLASS_NONE, and only it, has a NULL label and
 * admin text; a code in 400..599, and every local reason, has a sender text (by
 * the status's subject, RFC 3463, when no row matches). reroute is only ever true for
 * CLASS_BLOCKLIST and CLASS_REPUTATION, and not for a domain listing (Spamhaus
 * DBL), where a different sending IP cannot help.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "smtp/classify.h"

#define CLASSIFY_SCAN 4096 /* bytes of text looked at */
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/*
 * A row. codes: lo..hi, or {0, 0} for any 4xx/5xx. status: patterns "C.S.D" where
 * each part is a number, "lo-hi" or "*", or "-" for "the reply has no status".
 * text: lowercase phrases searched case-insensitively, where a space matches any
 * run of white space and a phrase that starts or ends with a letter or digit must
 * start or end a word there, unless a '*' at that end lifts it ("*s3150" also
 * finds "AS3150"). Each non-empty list must match. No row mixes a status with a
 * text: a status says the same as a text only where the text is missing, so
 * statuses get rows of their own, after every text row.
 */
struct rule {
	int codes[2];
	const char *status[6];
	const char *text[32];
	enum class_kind kind;
	const char *label;
	const char *admin;  /* for the operator: the ex_ texts */
	const char *sender; /* for the sender, in a DSN: the sx_ texts */
	bool reroute;
};

struct status {
	bool present;
	int part[3];
};

/* What to do about an IP listing, appended to each of their explanations. */
#define DETOUR                                                                                     \
	" Meanwhile send this destination's mail through a smarthost with a clean IP (a "          \
	"transport with relay, or fallback)."

static const char ex_zen[] =
	"The sending IP is on Spamhaus ZEN (one of its SBL, XBL, PBL or CSS lists). Look it up "
	"at https://check.spamhaus.org to see which list and why, fix the cause and ask for "
	"removal there." DETOUR;
static const char ex_sbl[] =
	"The sending IP is on the Spamhaus Block List: Spamhaus saw spam come from it or from "
	"its network. Stop the source of the spam, then ask for removal at "
	"https://check.spamhaus.org." DETOUR;
static const char ex_xbl[] =
	"The sending IP is on the Spamhaus Exploits Block List: a machine behind it looks "
	"infected or hijacked (a bot, an open proxy). Find and clean it, then remove the IP at "
	"https://check.spamhaus.org." DETOUR;
static const char ex_pbl[] =
	"The sending IP is on the Spamhaus Policy Block List (it belongs to a range that should "
	"not send mail directly). Send this destination's mail through a smarthost with a clean "
	"IP (a transport with relay, or fallback), or ask your provider to remove the range at "
	"https://check.spamhaus.org.";
static const char ex_css[] =
	"The sending IP is on the Spamhaus CSS list: it recently sent low-reputation mail, often "
	"from a hijacked account or an abused web form. Find what sent it, then ask for removal "
	"at https://check.spamhaus.org." DETOUR;
static const char ex_dbl[] =
	"A domain in the message (a link, or the sender's domain) is on the Spamhaus Domain Block "
	"List, so another sending IP will not help. Find the listed domain at "
	"https://check.spamhaus.org, remove it from the message or get it delisted, then send "
	"again.";
static const char ex_sblxbl[] =
	"The sending IP is on Spamhaus SBL-XBL (the older combined SBL and XBL zone). Look it up "
	"at https://check.spamhaus.org to see why, fix the cause and ask for removal there." DETOUR;
static const char ex_spamhaus[] =
	"The receiver refused the sending IP because of a Spamhaus listing. Look the IP up at "
	"https://check.spamhaus.org to see which list and why, fix the cause and ask for "
	"removal there." DETOUR;
static const char ex_psbl[] =
	"The sending IP is on PSBL, the Passive Spam Block List, because it sent mail to PSBL's "
	"spam traps. Find what sent that mail, then remove the IP at https://psbl.org." DETOUR;
static const char ex_barracuda[] =
	"The sending IP is on the Barracuda Reputation Block List. Check it and ask for removal "
	"at https://www.barracudacentral.org/rbl/removal-request." DETOUR;
static const char ex_spamcop[] =
	"The sending IP is on the SpamCop Blocking List because recipients reported spam from "
	"it; the listing expires by itself a day or two after the reports stop "
	"(https://www.spamcop.net/bl.shtml). Find what sent the spam." DETOUR;
static const char ex_uceprotect[] =
	"The sending IP (UCEPROTECT Level 1), or its whole network or provider (Levels 2 and 3), "
	"is on UCEPROTECT; Level 1 listings expire 7 days after the last spam-trap hit "
	"(https://www.uceprotect.net). Against a Level 2 or 3 listing only a relay on another "
	"network helps." DETOUR;
static const char ex_sorbs[] =
	"The receiver cites SORBS, a blocklist Proofpoint shut down in 2024, so its configuration "
	"is out of date: tell its postmaster." DETOUR;
static const char ex_proofpoint[] =
	"The sending IP is blocked by Proofpoint's IP reputation service, used by many companies "
	"and by Apple iCloud. Check it and request removal at "
	"https://ipcheck.proofpoint.com." DETOUR;
static const char ex_mailspike[] =
	"The sending IP is on the Mailspike blocklist. Look it up and ask for removal at "
	"https://mailspike.io." DETOUR;
static const char ex_abusix[] =
	"The sending IP is on the Abusix Mail Intelligence blocklist. Look it up and ask for "
	"removal at https://lookup.abusix.com." DETOUR;
static const char ex_cloudmark[] =
	"The sending IP has a poor Cloudmark Sender Intelligence reputation. Request a reset at "
	"https://csi.cloudmark.com." DETOUR;
static const char ex_spamrats[] =
	"The sending IP is on a SpamRATS list (often for a missing or generic reverse DNS name). "
	"Look it up and ask for removal at https://www.spamrats.com." DETOUR;
static const char ex_senderscore[] =
	"The sending IP is on Validity's Sender Score blocklist (once Return Path's). Look it up "
	"and ask for removal at https://senderscore.org." DETOUR;
static const char ex_cox_list[] =
	"Cox refused the sending IP because it is on a DNS blocklist; the AUP#IPBL code says "
	"which (Spamhaus ZEN, Cloudmark CSI, Validity/Return Path or Invaluement, see "
	"https://www.cox.com/residential/support/email-error-codes.html). Ask that list for "
	"removal." DETOUR;
static const char ex_ownlist[] =
	"The recipient's organisation put the sending IP on its own block list (Microsoft 365 "
	"calls it the Customer Block list); only its administrators can remove it, so contact "
	"them another way." DETOUR;
static const char ex_blocklist[] =
	"The sending IP is on a DNS blocklist (the reply names it). Look the IP up on that "
	"list's website to see why and how to be removed." DETOUR;

static const char ex_gmail[] =
	"Gmail refuses or slows down mail from the sending IP because of its low reputation "
	"(spam reports, a sudden jump in volume, or a new IP without history). Send Gmail-bound "
	"mail through a smarthost with a good reputation (a transport with relay, or fallback), "
	"watch Google Postmaster Tools, and make sure SPF, DKIM and DMARC pass.";
static const char ex_gmail_direct[] =
	"Gmail does not accept mail sent directly from this IP (it looks like a dynamic or "
	"residential address). Send through your provider's smarthost or another relay (a "
	"transport with relay, or fallback).";
static const char ex_microsoft[] =
	"Microsoft (Outlook.com, Hotmail or Microsoft 365) has blocked the sending IP. Ask for "
	"delisting at https://sender.office.com (for Outlook.com and Hotmail, S3140 and S3150, "
	"through Microsoft's sender support)." DETOUR;
static const char ex_yahoo[] =
	"Yahoo will no longer accept mail from the sending IP (\"permanently deferred\": retrying "
	"will not help). Review complaints and list hygiene, see "
	"https://senders.yahooinc.com/smtp-error-codes." DETOUR;
static const char ex_dynamic[] =
	"The receiver treats the sending IP as a dynamic or residential address (an end-user "
	"range, or a PTR name that looks like one) that should not send mail directly, as "
	"Spamhaus PBL does. Send this destination's mail through your provider's smarthost or "
	"another relay (a transport with relay, or fallback); a real mail server needs a static "
	"IP whose PTR name does not look generic.";
static const char ex_comcast[] =
	"Comcast blocked the sending IP because its mail came in patterns characteristic of spam "
	"(BL000000). Find what sent it, then ask for removal as "
	"https://postmaster.comcast.net/smtp-error-codes.php says." DETOUR;
static const char ex_cox[] =
	"Cox blocked the sending IP for spam-like mail (AUP#CXBL; AUP#CDRBL lasts at most a day). "
	"Find what sent it; the codes are explained at "
	"https://www.cox.com/residential/support/email-error-codes.html, where you can ask Cox "
	"to unblock the IP." DETOUR;
static const char ex_gmx[] =
	"GMX, WEB.DE or 1&1 (United Internet) put the sending IP on its block list. The "
	"postmaster.gmx.net or postmaster.web.de link in the reply says why; fix that and ask "
	"for removal through the contact form there." DETOUR;
static const char ex_cisco[] =
	"The receiver's Cisco Secure Email (IronPort) gateway refuses the sending IP for its poor "
	"SenderBase/Talos reputation. Look the IP up at "
	"https://talosintelligence.com/reputation_center and ask for a review there." DETOUR;
static const char ex_mimecast[] =
	"Mimecast refuses the sending IP because of its poor reputation. Request a review of the "
	"IP from Mimecast, or ask the recipient's administrator to permit the sender." DETOUR;
static const char ex_ip_blocked[] =
	"The receiver blocked the sending IP for a while (an hour, or the day) because it sent "
	"spam or mail to too many invalid addresses. Find what sent that mail and clean the "
	"lists." DETOUR;
static const char ex_reputation[] =
	"The receiver refuses the sending IP because of its poor reputation. Find out why (a "
	"blocklist check, complaints, volume) and fix it." DETOUR;

static const char ex_unknown_user[] =
	"The recipient address does not exist at the destination. Check it for typos; retrying "
	"will not help.";
static const char ex_mailbox_full[] =
	"The recipient's mailbox is full; nothing is wrong on the sending side. A 4xx reply is "
	"retried until they make room; after a 5xx they must clean up before the message is "
	"sent again.";
static const char ex_too_large[] =
	"The message is larger than the destination accepts. Send it again smaller (a link "
	"instead of the attachment, for example); another route will not help.";
static const char ex_tls[] =
	"The server only accepts encrypted (STARTTLS) sessions and this one was not encrypted. "
	"Give the transport a tls policy of may, encrypt or verify (not none), and check that "
	"STARTTLS to this host works.";
static const char ex_auth[] =
	"The server only takes mail from authenticated clients: it is a submission server or a "
	"smarthost, not the domain's MX. Set auth_user and auth_password_file on the transport, "
	"or deliver to the domain's MX instead.";
static const char ex_auth_group[] =
	"The recipient (often a Microsoft 365 group or mailbox) only accepts mail from senders "
	"inside its own organisation. Nothing on the sending side can fix this; the recipient's "
	"administrator must allow outside senders.";
static const char ex_rate[] =
	"The receiver limits how fast it takes mail from this sender (too many connections or "
	"messages, or unusual volume). relayd retries on its schedule; if it persists, lower "
	"max_connections or set rate on the transport.";
static const char ex_rate_microsoft[] =
	"Microsoft is temporarily slowing down mail from the sending IP (server busy, or because "
	"of the IP's reputation). relayd retries on its schedule; if it persists for days, check "
	"the IP in Microsoft SNDS and lower the sending rate.";
static const char ex_rate_yahoo[] =
	"Yahoo is deferring mail from the sending IP because of unusual volume or user "
	"complaints. relayd retries on its schedule; if it lasts for days, review complaints and "
	"list hygiene (https://senders.yahooinc.com/smtp-error-codes) or send through a "
	"smarthost.";
static const char ex_rate_gmail_domain[] =
	"Gmail is slowing down mail because of the reputation of the sending domain (its DKIM or "
	"SPF domain) or of a link in the message, not of the IP, so another route will not help. "
	"Check Google Postmaster Tools and cut unwanted mail from that domain.";
static const char ex_rate_quota[] =
	"The sending account at the smarthost has reached its sending quota. Wait for the quota "
	"to reset, ask the provider for a higher limit, or set rate on the transport.";
static const char ex_rate_rcpts[] =
	"The receiver takes only so many recipients per message, or per hour, from this sender, "
	"and this one was over: a limit, not a refusal of the address (RFC 5321 4.5.3.1.10 asks "
	"that even a 552 here be taken as temporary). relayd retries a 4xx on its schedule; "
	"after a 5xx, send to these recipients again later or in smaller batches.";
static const char ex_greylist[] =
	"The receiver greylists: it turns away mail from senders it has not seen before for a "
	"few minutes and accepts the retry. Nothing to do; relayd retries on its schedule.";
static const char ex_domain[] =
	"The recipient's domain does not exist or has no mail server in DNS. Check the address "
	"for typos.";
static const char ex_sender_domain[] =
	"The receiver could not find the sender's domain in DNS (it checks that replies and "
	"bounces can come back). Use a sender address whose domain resolves, or fix that "
	"domain's DNS.";
static const char ex_policy[] =
	"The message failed the receiver's SPF, DKIM or DMARC checks. Make the sender domain's "
	"SPF record include the IP that actually sends (this host's or the smarthost's), sign "
	"with DKIM, and keep the From: domain aligned with them.";
static const char ex_rdns[] =
	"The sending IP has no reverse DNS (PTR) name, or that name does not resolve back to the "
	"IP (no forward-confirmed reverse DNS). Ask the IP's provider for a PTR record naming a "
	"host whose A or AAAA record is this IP, best relayd's EHLO name (hostname, or the "
	"transport's helo), or send through a smarthost that has one.";
static const char ex_helo[] =
	"The receiver refused relayd's EHLO name: it is not in DNS, or not a fully-qualified "
	"host name. Set hostname (or the transport's helo) to a fully-qualified name with an A "
	"or AAAA record, best the sending IP's PTR name.";
static const char ex_host_unknown[] =
	"A mail server on the way could not find the recipient's host in DNS: the part after "
	"the @, or the host its MX record names, does not exist. Check the address for typos; if "
	"it is right, the recipient's DNS is broken, so tell them another way. Another route "
	"will not help.";
static const char ex_spam[] =
	"The receiver's filter judged the message to be spam. Review its content, links and the "
	"sender's list practices; another sending IP usually will not help.";
static const char ex_spam_domain[] =
	"Gmail blocked the message because of the very low reputation of the sending domain, so "
	"another sending IP will not help. Check Google Postmaster Tools, authentication and "
	"complaints for that domain.";
static const char ex_unsafe[] =
	"The receiver blocked the message for its content: an attachment type it forbids, a "
	"virus, or a dangerous link. Remove or change it and send again.";
static const char ex_relay[] =
	"The server is not the destination for this recipient and will not relay for this "
	"client. Check the transport's relay and that this host may use it (its IP or "
	"authentication); for MX delivery, check the domain's MX records.";

/*
 * What the sender reads in a DSN: plain words for a person who is not a mail
 * administrator. Each says what happened, whether it is about the message, the
 * recipient or the sending mail system, and what the sender can do; none gives
 * advice about relayd's configuration (that is the ex_ texts above, for the log
 * and relayctl). test_classify.c checks them against a list of operator words.
 * One text serves a category's rows where the sender can do the same about
 * them (every IP listing, every reputation block).
 */
static const char sx_listed[] =
	"The recipient's mail server refused mail from this mail system because its network "
	"address is on a public list of suspected sources of spam. This is about the sending "
	"mail system, not about your message or the recipient. Please tell your IT team or "
	"email provider (forward them this report); once they have solved it, the message can "
	"be sent again.";
static const char sx_dbl[] =
	"The recipient's mail server refused your message because a web address or domain name "
	"in it (a link, or the domain of your own address) is on a public list of domains seen "
	"in spam. This is about the content of your message: remove or change the link and send "
	"it again, or tell your IT team if the listed domain is your own.";
static const char sx_ownlist[] =
	"The recipient's organisation blocks all mail from this mail system on a list of its "
	"own. This is not about your message, and only the recipient's IT team can lift the "
	"block: ask the recipient (by phone, or from another address) to have it lifted, and "
	"tell your IT team.";
static const char sx_reputation[] =
	"The recipient's mail provider refuses or slows down mail from this mail system because "
	"it does not trust it enough (for example after complaints about unwanted mail). This "
	"is about the sending mail system, not about your message or the recipient. Please tell "
	"your IT team or email provider (forward them this report); the message can be sent "
	"again later.";
static const char sx_unknown_user[] =
	"The address does not exist at the recipient's mail server. Check it for typos, or ask "
	"the recipient for their correct address; sending again to the same address will not "
	"help.";
static const char sx_mailbox_full[] =
	"The recipient's mailbox is full. This is about the recipient, not your message: they "
	"need to make room. Try again later, or let them know another way.";
static const char sx_too_large[] =
	"Your message is larger than the recipient's mail server accepts. Send it again "
	"smaller: share large attachments as a link, or spread them over several messages.";
static const char sx_tls[] =
	"The recipient's mail server only accepts mail over an encrypted connection, and this "
	"mail system did not use one. This is about the sending mail system, not your message "
	"or the recipient: please tell your IT team or email provider (forward them this "
	"report).";
static const char sx_auth[] =
	"The server your message was handed to only takes mail from its own users who sign in, "
	"so it refused the message. This is about how the sending mail system is set up, not "
	"about your message or the recipient: please tell your IT team or email provider "
	"(forward them this report).";
static const char sx_auth_group[] =
	"The recipient (often a group or a shared mailbox) only accepts mail from people inside "
	"its own organisation. Ask the recipient to have their IT team accept mail from "
	"outside, or reach them another way.";
static const char sx_rate[] =
	"The recipient's mail server takes mail from this mail system only slowly for now (a "
	"temporary limit on how much it accepts). This is not about your message or the "
	"recipient; if the message could not be delivered in the end, send it again later.";
static const char sx_rate_gmail_domain[] =
	"The recipient's mail provider is slowing down mail from your domain (the part of your "
	"address after the @), or mail with a link in your message, because of unwanted mail "
	"seen from it. Sending again soon will not help: please tell your IT team or email "
	"provider.";
static const char sx_rate_quota[] =
	"This mail system has sent as much mail as its provider allows for now (a daily or "
	"hourly limit). This is not about your message or the recipient: send it again later, "
	"and tell your IT team if it keeps happening.";
static const char sx_rate_rcpts[] =
	"The recipient's mail server accepts only so many recipients per message, or per hour, "
	"and this one was over the limit. The address itself is fine: send the message to these "
	"recipients again later, or to fewer recipients at a time.";
static const char sx_greylist[] =
	"The recipient's mail server asks senders it does not know yet to come back a little "
	"later, a common defence against spam. This is not about your message or the "
	"recipient; normally a later try gets through.";
static const char sx_domain[] =
	"The recipient's domain (the part of the address after the @) does not exist, or does "
	"not receive email. Check the address for typos; if it is right, reach the recipient "
	"another way.";
static const char sx_sender_domain[] =
	"The recipient's mail server could not find your own domain (the part of your address "
	"after the @), so it refused mail from you. This is about your address, not the "
	"recipient: tell your IT team or email provider, or send from an address whose domain "
	"works.";
static const char sx_policy[] =
	"The recipient's mail server could not confirm that the message really comes from your "
	"domain (the part of your address after the @): the checks called SPF, DKIM and DMARC "
	"failed. This is about how your domain's email is set up, not about your message's "
	"text or the recipient: please tell your IT team or email provider (forward them this "
	"report).";
static const char sx_rdns[] =
	"The recipient's mail server refused this mail system because no proper name is "
	"registered for its network address, which many servers require. This is about the "
	"sending mail system, not about your message or the recipient: please tell your IT "
	"team or email provider (forward them this report).";
static const char sx_helo[] =
	"The recipient's mail server refused the name this mail system introduced itself with. "
	"This is about the sending mail system, not about your message or the recipient: "
	"please tell your IT team or email provider (forward them this report).";
static const char sx_host_unknown[] =
	"The recipient's domain (the part of the address after the @), or the mail server it "
	"names, could not be found. Check the address for typos; if it is right, the "
	"recipient's domain is broken: let them know another way.";
static const char sx_spam[] =
	"The recipient's mail server judged your message to be spam. Check its content and "
	"links, and that the recipient expects mail from you; then send it again changed, or "
	"reach the recipient another way.";
static const char sx_spam_domain[] =
	"The recipient's mail provider refused your message because of the poor reputation of "
	"your domain (the part of your address after the @). Sending it again will not help: "
	"please tell your IT team or email provider.";
static const char sx_unsafe[] =
	"The recipient's mail server blocked your message for its content: an attachment type "
	"it does not accept, a virus, or a dangerous link. Remove or change it (share a file as "
	"a link, for example) and send the message again.";
static const char sx_relay[] =
	"The server your message was handed to is not the recipient's mail server and refused "
	"to pass it on. Check the address for typos; if it is right, the sending mail system "
	"or the recipient's domain is set up wrongly: please tell your IT team (forward them "
	"this report).";

/*
 * Sources. Each row's comment names where its texts were published, with these
 * keys or a URL:
 * GMAIL_DOC   Gmail SMTP errors and codes, https://support.google.com/a/answer/3726730
 * MS_DOC      Email non-delivery reports and SMTP errors in Exchange Online,
 *             https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/non-delivery-reports-in-exchange-online
 * YAHOO_DOC   https://senders.yahooinc.com/smtp-error-codes
 * COMCAST_DOC Comcast mail delivery error codes, http://postmaster.comcast.net/mail-error-codes.html
 *             and https://postmaster.comcast.net/smtp-error-codes.php
 * COX_DOC     https://www.cox.com/residential/support/email-error-codes.html
 * GODADDY_DOC https://ca.godaddy.com/help/fix-rejected-email-with-a-bounce-error-40685
 * POSTFIX     postconf(5) and the Postfix SMTP server's stock texts,
 *             https://www.postfix.org/postconf.5.html
 * SISIMAI     Sisimai's bounce-reason patterns, collected from real bounces:
 *             https://github.com/sisimai/go-sisimai/tree/master/reason (why-*.go) and
 *             .../rhost (for-*.go, per provider, with the provider's documentation)
 */
/* clang-format off */
static const struct rule rules[] = {
	/* ---- 1. Named DNS blocklists. A Spamhaus reply may name several: the
	 * list that says most (CSS, DBL, PBL) wins over the zone (ZEN). ---- */
	/* MS_DOC: 5.7.513 "... blocked by contoso.com using Customer Block list"; 5.7.507
	 * "Access denied, rejected by recipient" (the recipient's organization blocked
	 * the IP) */
	{ .text = { "customer block list", "access denied, rejected by recipient" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: recipient's own list",
	  .admin = ex_ownlist, .sender = sx_ownlist, .reroute = true },
	/* https://www.spamhaus.org/css/ (the SBLCSS code in ZEN's TXT answer) */
	{ .text = { "sblcss", "css.spamhaus.org", "spamhaus css", "spamhaus.org/css" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: Spamhaus CSS", .admin = ex_css, .sender = sx_listed,
	  .reroute = true },
	/* SISIMAI rhost/for-apple.go ("domain present in the Spamhaus DBL") */
	{ .text = { "dbl.spamhaus.org", "spamhaus dbl", "spamhaus.org/dbl",
		    "spamhaus.org/query/domain" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: Spamhaus DBL", .admin = ex_dbl, .sender = sx_dbl,
	  .reroute = false },
	/* SISIMAI rhost/for-apple.go; GODADDY_DOC IB106 "listed on the Policy Block List
	 * (PBL)" */
	{ .text = { "pbl.spamhaus.org", "spamhaus pbl", "spamhaus.org/pbl", "policy block list" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: Spamhaus PBL", .admin = ex_pbl, .sender = sx_listed,
	  .reroute = true },
	/* POSTFIX default_rbl_reply with the legacy zone */
	{ .text = { "sbl-xbl.spamhaus.org", "spamhaus sbl-xbl" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: Spamhaus SBL-XBL", .admin = ex_sblxbl, .sender = sx_listed,
	  .reroute = true },
	/* YAHOO_DOC [BL23]; GODADDY_DOC IB105 "listed on the Exploits Block List (XBL)";
	 * SISIMAI why-blocked.go (abuseat.org, the CBL now in the XBL) */
	{ .text = { "xbl.spamhaus.org", "spamhaus xbl", "spamhaus.org/xbl", "abuseat.org",
		    "exploits block list" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: Spamhaus XBL", .admin = ex_xbl, .sender = sx_listed,
	  .reroute = true },
	/* SISIMAI rhost/for-apple.go; GODADDY_DOC IB104 "listed on the Spamhaus Block List
	 * (SBL)" */
	{ .text = { "sbl.spamhaus.org", "spamhaus sbl", "spamhaus.org/sbl", "spamhaus block list" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: Spamhaus SBL", .admin = ex_sbl, .sender = sx_listed,
	  .reroute = true },
	/* POSTFIX default_rbl_reply; COMCAST_DOC BL000001 ("listed on the Spamhaus Zen
	 * Blocklist") */
	{ .text = { "zen.spamhaus.org", "spamhaus zen", "bl000001" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: Spamhaus ZEN", .admin = ex_zen, .sender = sx_listed,
	  .reroute = true },
	/* YAHOO_DOC [BL21] "because the ip is in Spamhaus's list" */
	{ .text = { "spamhaus" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: Spamhaus", .admin = ex_spamhaus, .sender = sx_listed,
	  .reroute = true },
	/* https://psbl.org (its TXT answer "Listed in PSBL, see http://psbl.org/listing?ip=") */
	{ .text = { "psbl" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: PSBL", .admin = ex_psbl, .sender = sx_listed,
	  .reroute = true },
	/* https://www.barracudacentral.org/rbl ("blocked using Barracuda Reputation") */
	{ .text = { "barracuda reputation", "barracudacentral",
		    "barracudanetworks.com/reputation" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: Barracuda", .admin = ex_barracuda, .sender = sx_listed,
	  .reroute = true },
	/* https://www.spamcop.net/bl.shtml; SISIMAI why-blocked.go ("//www.spamcop.net/bl.") */
	{ .text = { "spamcop" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: SpamCop", .admin = ex_spamcop, .sender = sx_listed,
	  .reroute = true },
	/* https://www.uceprotect.net ("dnsbl-1.uceprotect.net", "UCEPROTECT-Level 1") */
	{ .text = { "uceprotect*" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: UCEPROTECT", .admin = ex_uceprotect, .sender = sx_listed,
	  .reroute = true },
	/* "blocked using dnsbl.sorbs.net" (https://help.kreativmedia.ch/fr/erreur-554-blocked);
	 * SORBS was closed by Proofpoint in 2024 */
	{ .text = { "sorbs" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: SORBS", .admin = ex_sorbs, .sender = sx_listed,
	  .reroute = true },
	/* SISIMAI rhost/for-apple.go ("Blocked - see https://support.proofpoint.com/dnsbl-lookup") */
	{ .text = { "ipcheck.proofpoint", "dnsbl-lookup", "proofpoint dynamic reputation" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: Proofpoint", .admin = ex_proofpoint, .sender = sx_listed,
	  .reroute = true },
	/* https://mailspike.io */
	{ .text = { "mailspike" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: Mailspike", .admin = ex_mailspike, .sender = sx_listed,
	  .reroute = true },
	/* https://abusix.com */
	{ .text = { "abusix" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: Abusix", .admin = ex_abusix, .sender = sx_listed,
	  .reroute = true },
	/* Orange "Ref http://csi.cloudmark.com" (SISIMAI rhost/for-franceptt.go); GODADDY_DOC
	 * IB103; COMCAST_DOC BL000010 ("listed on Cloudmark CSI") */
	{ .text = { "cloudmark", "bl000010" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: Cloudmark", .admin = ex_cloudmark, .sender = sx_listed,
	  .reroute = true },
	/* https://www.spamrats.com */
	{ .text = { "spamrats" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: SpamRATS", .admin = ex_spamrats, .sender = sx_listed,
	  .reroute = true },
	/* COMCAST_DOC BL000100 ("listed on the SenderScore blocklist"); La Poste's
	 * "https://senderscore.org/blacklistlookup/ LPN007_102" (SISIMAI
	 * rhost/for-franceptt.go) */
	{ .text = { "senderscore", "bl000100" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: Sender Score", .admin = ex_senderscore, .sender = sx_listed,
	  .reroute = true },
	/* COX_DOC: AUP#IPBL0001 ... IPBL1111, each bit a DNSBL (SISIMAI rhost/for-cox.go) */
	{ .text = { "aup#ipbl*" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: Cox IPBL", .admin = ex_cox_list, .sender = sx_listed,
	  .reroute = true },

	/* ---- 2. Provider deferrals that mention the IP but are rate limits:
	 * retried, no detour ---- */
	/* MS_DOC 4.7.650 "has been temporarily rate limited due to IP reputation" (S775) */
	{ .text = { "rate limited due to ip reputation" },
	  .kind = CLASS_RATE_LIMIT, .label = "rate limited", .admin = ex_rate_microsoft, .sender = sx_rate },
	/* MS_DOC 4.7.500-699 and 4.7.850-899 "Access denied, please try again later";
	 * 451 4.7.500 "Server busy. Please try again later from [IP]" (SISIMAI
	 * rhost/for-microsoft.go) */
	{ .text = { "server busy", "access denied, please try again later" },
	  .kind = CLASS_RATE_LIMIT, .label = "rate limited", .admin = ex_rate_microsoft, .sender = sx_rate },
	/* YAHOO_DOC TS01, TS02, TSS04 */
	{ .text = { "tss04", "ts01", "ts02", "unexpected volume or user complaints" },
	  .kind = CLASS_RATE_LIMIT, .label = "rate limited", .admin = ex_rate_yahoo, .sender = sx_rate },

	/* ---- 3. The receivers' own IP reputation blocks, 4xx or 5xx ---- */
	/* GMAIL_DOC 550 5.7.1 and 421 4.7.28 */
	{ .text = { "reputation of the sending ip", "unsolicited mail originating from your ip" },
	  .kind = CLASS_REPUTATION, .label = "reputation: Gmail", .admin = ex_gmail, .sender = sx_reputation,
	  .reroute = true },
	/* GMAIL_DOC 550 5.7.1 (https://support.google.com/mail/?p=NotAuthorizedError) */
	{ .text = { "not authorized to send email directly to our servers" },
	  .kind = CLASS_REPUTATION, .label = "reputation: Gmail", .admin = ex_gmail_direct, .sender = sx_reputation,
	  .reroute = true },
	/* GMAIL_DOC 550 5.7.1 "very low reputation of the sending domain" */
	{ .text = { "reputation of the sending domain" },
	  .kind = CLASS_SPAM, .label = "spam", .admin = ex_spam_domain, .sender = sx_spam_domain },
	/* GMAIL_DOC 421 4.7.28 "unusual rate of unsolicited mail originating from your
	 * DKIM domain / SPF domain / URL domains" */
	{ .text = { "unusual rate of" },
	  .kind = CLASS_RATE_LIMIT, .label = "rate limited", .admin = ex_rate_gmail_domain, .sender = sx_rate_gmail_domain },
	/* MS_DOC 5.7.606-649 "Access denied, banned sending IP", 5.7.708 "traffic not
	 * accepted from this IP", 5.7.511 "Access denied, banned sender"; Outlook.com
	 * S3140/S3150 (SISIMAI rhost/for-microsoft.go); "not currently accepting mail from
	 * your ip" (SISIMAI why-blocked.go, Microsoft); EOP's "blocked using Blocklist 1;
	 * To request removal from this list please forward this message to
	 * delist@messaging.microsoft.com" (https://github.com/carlohamalainen/carlohamalainen.github.io/blob/master/_posts/2014-05-26-microsoft-blocked-using-blocklist1.md) */
	{ .text = { "*s3140", "*s3150", "part of their network is on our block list",
		    "banned sending ip", "traffic not accepted from this ip",
		    "access denied, banned sender", "not currently accepting mail from your ip",
		    "delist@messaging.microsoft.com" },
	  .kind = CLASS_REPUTATION, .label = "reputation: Microsoft", .admin = ex_microsoft, .sender = sx_reputation,
	  .reroute = true },
	/* YAHOO_DOC TS03, TSS09, TSS11 "permanently deferred" */
	{ .text = { "ts03", "tss09", "tss11" },
	  .kind = CLASS_REPUTATION, .label = "reputation: Yahoo", .admin = ex_yahoo, .sender = sx_reputation,
	  .reroute = true },
	/* COMCAST_DOC BL000000 ("sent mail in patterns characteristic of spam"), as in
	 * "Comcast block for spam. Please see
	 * http://postmaster.comcast.net/smtp-error-codes.php#BL000000" (SISIMAI's
	 * test/public/reason-test.rb in rb-sisimai) */
	{ .text = { "bl000000", "comcast block for spam" },
	  .kind = CLASS_REPUTATION, .label = "reputation: Comcast", .admin = ex_comcast, .sender = sx_reputation,
	  .reroute = true },
	/* COX_DOC AUP#CXBL, AUP#CDRBL (SISIMAI rhost/for-cox.go; a real CDRBL bounce in
	 * https://github.com/sisimai/set-of-emails/blob/master/maildir/mac/rhost-cox-01.eml) */
	{ .text = { "aup#cxbl", "aup#cdrbl" },
	  .kind = CLASS_REPUTATION, .label = "reputation: Cox", .admin = ex_cox, .sender = sx_reputation,
	  .reroute = true },
	/* https://postmaster.gmx.com/en/error-messages ("554-IP address is block listed."),
	 * the older "IP address is black listed" in http://marmaro.de/lue/txt/2013-10-24.txt */
	{ .text = { "ip address is block listed", "ip address is black listed" },
	  .kind = CLASS_REPUTATION, .label = "reputation: GMX/WEB.DE", .admin = ex_gmx, .sender = sx_reputation,
	  .reroute = true },
	/* Cisco IronPort's default reject for a poor SenderBase score: "554 Your access to
	 * this mail system has been rejected due to the sending MTA's poor reputation",
	 * https://portal.smartertools.com/kb/a3500/554-error-mta-poor-reputation-fixes.aspx */
	{ .text = { "due to the sending mta" },
	  .kind = CLASS_REPUTATION, .label = "reputation: Cisco Talos", .admin = ex_cisco, .sender = sx_reputation,
	  .reroute = true },
	/* Mimecast's "Local CT IP Reputation - (reject)" (SISIMAI rhost/for-mimecast.go,
	 * from https://community.mimecast.com/s/article/Mimecast-SMTP-Error-Codes-842605754) */
	{ .text = { "local ct ip reputation" },
	  .kind = CLASS_REPUTATION, .label = "reputation: Mimecast", .admin = ex_mimecast, .sender = sx_reputation,
	  .reroute = true },
	/* A dynamic or residential IP, refused by the receiver's own policy (Spamhaus PBL
	 * is the list of such ranges). "Please use the smtp server of your ISP", "Client
	 * host rejected: may not be mail exchanger" (a generic, dial-up looking PTR name:
	 * the host may not act as a mail exchanger; it has a PTR, so it is no rDNS
	 * failure, and it is no rate limit however 4.7.1 reads), "dynamic/zombied/spam
	 * IPs blocked", mail.ru "We do not accept mail from dynamic IPs": SISIMAI
	 * why-blocked.go; "hosts with dynamic ip or generic dns ptr-records": SISIMAI
	 * why-requireptr.go; COMCAST_DOC ES000001/ES000010 ("dynamic/residential IP
	 * space") */
	{ .text = { "please use the smtp server of your isp", "may not be mail exchanger",
		    "dynamic ip*", "dynamic/residential", "residential ip*", "dynamic/zombied",
		    "generic dns ptr", "es000001", "es000010" },
	  .kind = CLASS_REPUTATION, .label = "reputation: dynamic IP", .admin = ex_dynamic, .sender = sx_reputation,
	  .reroute = true },
	/* GODADDY_DOC IB110/IB111 "This IP has been temporarily blocked [has been blocked
	 * for the day] for attempting to send too many messages containing content judged
	 * to be spam", IB112/IB113 "... to mail too many invalid recipients"; COX_DOC
	 * "too many invalid recipients" (SISIMAI rhost/for-cox.go) */
	{ .text = { "this ip has been temporarily blocked", "this ip has been blocked",
		    "too many invalid recipients" },
	  .kind = CLASS_REPUTATION, .label = "reputation", .admin = ex_ip_blocked, .sender = sx_reputation,
	  .reroute = true },

	/* Any other DNS blocklist, then any other IP reputation block; but a
	 * block list of sender addresses says nothing about the IP. */
	/* POSTFIX check_sender_access ("Sender address rejected: ...") */
	{ .text = { "sender address rejected: blacklisted",
		    "sender address rejected: blocklisted", "sender blacklisted",
		    "sender blocklisted", "sender address blacklisted", "sender is blacklisted" },
	  .kind = CLASS_NONE },
	/* POSTFIX default_rbl_reply ("Service unavailable; Client host [...] blocked
	 * using ..."); "is in a black list", "blacklisted by", "your ip address is listed
	 * in the rbl" (SISIMAI why-blocked.go); "block listed" as GMX says it */
	{ .text = { "blocked using", "service unavailable; client host", "dnsbl", "rbl",
		    "realtime blackhole", "realtime black list", "black list", "block list",
		    "black listed", "block listed", "blacklist*", "blocklist*" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist", .admin = ex_blocklist, .sender = sx_listed,
	  .reroute = true },
	/* "Sorry, no access for this ip" (http://helpdesk.umd.edu/documents/3/3025/: "Sender
	 * is from a known SPAM IP-address"); "bad sender ip address", "sender ip address
	 * rejected", "extreme bad ip profile", free.fr "too many spams from your ip" (SISIMAI
	 * why-blocked.go) */
	{ .text = { "ip reputation", "reputation of your ip", "ip address has a poor reputation",
		    "ip has a poor reputation", "ip has a bad reputation", "permanently deferred",
		    "no access for this ip", "bad sender ip address", "sender ip address rejected",
		    "extreme bad ip profile", "too many spams from your ip" },
	  .kind = CLASS_REPUTATION, .label = "reputation", .admin = ex_reputation, .sender = sx_reputation,
	  .reroute = true },

	/* ---- 4. The other categories, by their text ---- */
	/* Before rate limits: Gmail's 4.7.29 and 4.7.27 say "rate limited" too (GMAIL_DOC);
	 * "STARTTLS is required to send mail" (MS_DOC 5.4.317) */
	{ .text = { "must issue a starttls", "starttls required", "starttls is required",
		    "requires starttls", "tls required", "tls is required", "requires tls",
		    "must use tls", "encryption required", "use tls/ssl",
		    "sent over a tls connection" },
	  .kind = CLASS_TLS_REQUIRED, .label = "TLS required", .admin = ex_tls, .sender = sx_tls },
	/* GMAIL_DOC 5.7.25 ("does not have a PTR record setup"); POSTFIX
	 * reject_unknown_client_hostname ("Client host rejected: cannot find your
	 * hostname") and reject_unknown_reverse_client_hostname; MS_DOC 5.7.25 "must have
	 * a reverse DNS record"; "Access denied. IP name lookup failed", "cannot resolve
	 * your address", "bad DNS PTR resource record" (GMX), sendmail's "unresolvable
	 * relay host name" (SISIMAI why-requireptr.go); COMCAST_DOC "421 - [Reverse DNS
	 * failure : Try again later]"; GODADDY_DOC IB108 "Reverse DNS for this IP failed";
	 * COX_DOC AUP#CXDNS and "DNS check failure - try again later" (SISIMAI
	 * rhost/for-cox.go) */
	{ .text = { "ptr record", "dns ptr", "reverse dns", "rdns", "cannot find your hostname",
		    "cannot find your reverse hostname", "reverse hostname", "ip name lookup failed",
		    "cannot resolve your address", "unresolvable relay host name",
		    "dns check failure", "aup#cxdns" },
	  .kind = CLASS_NO_RDNS, .label = "no reverse DNS", .admin = ex_rdns, .sender = sx_rdns },
	/* POSTFIX reject_unknown_helo_hostname ("Helo command rejected: Host not found"),
	 * reject_non_fqdn_helo_hostname ("... need fully-qualified hostname"),
	 * reject_invalid_helo_hostname; MS_DOC 5.7.506 "Access denied, bad HELO"; older
	 * Exchange "HELO / EHLO requires domain address" (SISIMAI rhost/for-microsoft.go).
	 * Before the host-unknown row: this host is relayd's own EHLO name. */
	{ .text = { "helo command rejected", "bad helo", "ehlo requires domain address" },
	  .kind = CLASS_POLICY, .label = "policy: HELO name", .admin = ex_helo, .sender = sx_helo },
	/* GMAIL_DOC 5.7.26, 5.7.27; MS_DOC 5.7.23, 5.7.509; policyd-spf; Apple HME1 (SISIMAI
	 * rhost/for-apple.go) */
	{ .text = { "spf", "dkim", "dmarc", "sender policy framework", "authentication checks",
		    "does not have authentication information", "unauthenticated email",
		    "sender is unauthenticated", "it is unauthenticated" },
	  .kind = CLASS_POLICY, .label = "policy: SPF/DMARC", .admin = ex_policy, .sender = sx_policy },

	/* Microsoft says "authentication required" when a group or mailbox takes
	 * mail from inside its organisation only (MS_DOC 5.7.133, 5.7.134). */
	{ .text = { "sender was not authenticated", "*notauthenticatedfor*" },
	  .kind = CLASS_AUTH_REQUIRED, .label = "authentication required",
	  .admin = ex_auth_group, .sender = sx_auth_group },
	/* GMAIL_DOC 530 5.7.0 "Authentication Required"; MS_DOC 5.7.57 */
	{ .text = { "authentication required", "authentication is required", "auth required",
		    "not authenticated", "must authenticate", "authenticate first",
		    "authentication needed" },
	  .kind = CLASS_AUTH_REQUIRED, .label = "authentication required", .admin = ex_auth, .sender = sx_auth },

	/* POSTFIX reject_unknown_sender_domain; YAHOO_DOC "unresolvable RFC.5321 from
	 * domain" */
	{ .text = { "sender address rejected: domain not found", "sender domain not found",
		    "sender domain does not exist", "unresolvable rfc.5321 from domain" },
	  .kind = CLASS_DOMAIN_NOT_FOUND, .label = "sender domain not found",
	  .admin = ex_sender_domain, .sender = sx_sender_domain },
	/* Sendmail "550 <address>... Host unknown (Name server: host: host not found)" and
	 * "Host unknown (Authoritative answer from name server)", its EX_NOHOST texts
	 * (https://docs.oracle.com/cd/E19253-01/816-4555/mailadmin-219/index.html:
	 * "the destination host ... was not found during DNS lookup"); qmail-remote
	 * "Sorry, I couldn't find any host named ... (#5.1.2)" (SISIMAI lhost/via-qmail.go);
	 * Postfix "Host or domain
	 * name not found. Name service error"; "Name or service not known" (SISIMAI
	 * why-hostunknown.go). Before the domain row: these come with 5.1.2 too. Not Exim's
	 * "all relevant MX records point to non-existent hosts": in a reply it is the
	 * receiver's verification of the sender. */
	{ .text = { "host unknown", "unknown host", "host not found", "host or domain name not found",
		    "name or service not known", "couldn't find any host" },
	  .kind = CLASS_HOST_UNKNOWN, .label = "host unknown", .admin = ex_host_unknown, .sender = sx_host_unknown },
	/* POSTFIX reject_unknown_recipient_domain ("Domain not found"); MS_DOC 5.4.310,
	 * 5.4.4 "nonexistent domain"; Exim "Unrouteable address"; GMAIL_DOC 553 5.1.2 "We
	 * weren't able to find the recipient domain" */
	{ .text = { "domain not found", "domain does not exist", "no such domain",
		    "nonexistent domain", "non-existent domain", "domain name not found",
		    "unrouteable address", "domain is not reachable", "find the recipient domain" },
	  .kind = CLASS_DOMAIN_NOT_FOUND, .label = "domain not found", .admin = ex_domain, .sender = sx_domain },

	/* A smarthost's own sending quota, before "quota exceeded" (a full mailbox):
	 * GMAIL_DOC 550 5.4.5 "Daily user sending limit exceeded"; MS_DOC 5.2.2
	 * "Submission quota exceeded", 5.1.90 "reached your daily limit for message
	 * recipients" */
	{ .text = { "sending quota", "sending limit", "relay limit exceeded", "submission quota",
		    "daily limit for message recipients" },
	  .kind = CLASS_RATE_LIMIT, .label = "rate limited", .admin = ex_rate_quota, .sender = sx_rate_quota },
	/* Too many recipients is a limit, not a refusal of the address or a size: RFC 5321
	 * 4.5.3.1.10 (452; "clients SHOULD treat a 552 code in this case as a temporary
	 * ... failure"), https://www.ibm.com/support/knowledgecenter/SSLTBW_2.1.0/com.ibm.zos.v2r1.cs3cod0/smt552-02.htm
	 * ("552: Too many recipients ... SMTP client should resend these recipients at a
	 * later time"); GMAIL_DOC 452 4.5.3 "Your message has too many recipients", "Domain
	 * policy size per transaction exceeded"; MS_DOC 4.5.3 "Too many recipients";
	 * GODADDY_DOC IB605 "This message contains too many recipients", IB607 "has sent
	 * too many to too many recipients this hour"; COX_DOC AUP#CXMXRT ("sent email to
	 * too many recipients"). Sisimai files them under RateLimited (why-ratelimited.go). */
	{ .text = { "too many recipients", "domain policy size per transaction",
		    "aup#cxmxrt" },
	  .kind = CLASS_RATE_LIMIT, .label = "rate limited: too many recipients",
	  .admin = ex_rate_rcpts, .sender = sx_rate_rcpts },

	/* GMAIL_DOC 5.1.1; POSTFIX "User unknown in virtual mailbox table"; MS_DOC 5.1.10
	 * RecipientNotFound and Exchange's 5.1.1 "RESOLVER.ADR.ExRecipNotFound"; YAHOO_DOC
	 * "This user doesn't have a yahoo.com account"; Apple "unknown or illegal alias"
	 * (SISIMAI rhost/for-apple.go); "user not found", "invalid mailbox", "unknown
	 * mailbox", "recipient does not exist", "not a valid recipient" (SISIMAI
	 * why-userunknown.go); Lotus Domino "User ... not listed in Domino Directory" and
	 * "not listed in public Name & Address Book" (SISIMAI lhost/via-domino.go); qmail-local
	 * "Sorry, no mailbox here by that name. (#5.1.1)" (SISIMAI lhost/via-qmail.go), chkuser "511 sorry, no
	 * mailbox here by that name (#5.1.1 - chkuser)"; MS_DOC 5.4.1/5.7.504 "Recipient
	 * address rejected: Access denied" and 5.7.505 "Access denied, banned recipient"
	 * (the address is not valid) */
	{ .text = { "user unknown", "unknown user", "no such user", "unknown recipient",
		    "recipient unknown", "no such recipient", "invalid recipient",
		    "recipient not found", "*recipientnotfound", "*recipnotfound",
		    "mailbox not found", "no such mailbox", "invalid mailbox", "unknown mailbox",
		    "account that you tried to reach does not exist", "user does not exist",
		    "mailbox does not exist", "address does not exist", "recipient does not exist",
		    "user doesn't have a", "not a valid user", "not a valid recipient",
		    "unknown or illegal alias", "user not found", "not listed in domino directory",
		    "not listed in public name & address book", "no mailbox here by that name",
		    "recipient address rejected: access denied", "access denied, banned recipient" },
	  .kind = CLASS_UNKNOWN_USER, .label = "unknown user", .admin = ex_unknown_user, .sender = sx_unknown_user },
	/* Outlook.com and Exchange: "550 Requested action not taken: mailbox unavailable" */
	{ .codes = { 550, 550 }, .text = { "mailbox unavailable" },
	  .kind = CLASS_UNKNOWN_USER, .label = "unknown user", .admin = ex_unknown_user, .sender = sx_unknown_user },
	/* GMAIL_DOC 452 4.2.2, 552 5.2.2; Apple "user is over quota" */
	{ .text = { "mailbox full", "mailbox is full", "inbox is full", "over quota",
		    "quota exceeded", "exceeded quota", "exceeds quota", "out of storage space",
		    "storage quota" },
	  .kind = CLASS_MAILBOX_FULL, .label = "mailbox full", .admin = ex_mailbox_full, .sender = sx_mailbox_full },
	/* GMAIL_DOC 552 5.3.4; POSTFIX "Message size exceeds fixed limit" */
	{ .text = { "message too large", "message too big", "message is too large",
		    "message size exceeds", "size exceeds", "message file too big",
		    "exceeds maximum message size", "exceeds the maximum message size",
		    "message size limit" },
	  .kind = CLASS_TOO_LARGE, .label = "message too large", .admin = ex_too_large, .sender = sx_too_large },

	/* postgrey ("Greylisted, see http://postgrey.schweikert.ch/help/..."), greyfix,
	 * cPanel Exim ("is not yet authorized to deliver mail from") */
	{ .text = { "greylist*", "graylist*", "grey-list*", "gray-list*", "grey list*",
		    "postgrey", "not yet authorized to deliver mail from" },
	  .kind = CLASS_GREYLIST, .label = "greylisted", .admin = ex_greylist, .sender = sx_greylist },
	/* GMAIL_DOC 450 4.2.1 "receiving mail too quickly" / "at a rate"; POSTFIX
	 * smtpd_client_connection_count_limit ("too many connections from"); Yahoo "Max
	 * message per connection reached" (SISIMAI rhost/for-yahooinc.go); MS_DOC 432
	 * 4.3.2 "recipient thread limit exceeded", 5.2.121/5.2.122 "recipient's per hour
	 * message receive limit", 4.7.652 "has exceeded the maximum number of connections"
	 * and 5.7.508 "has exceeded permitted limits within $range range" (SISIMAI
	 * rhost/for-microsoft.go); COMCAST_DOC "421 - [Too many sessions opened]";
	 * GODADDY_DOC IB007 "too many sessions from This IP", IB504 "This IP has sent too
	 * many messages this hour", IB510 "exceeded the max number of messages per
	 * session"; COX_DOC AUP#CXCNCT and "message threshold exceeded"; "please try again
	 * slower", free.fr "too many errors from your ip" (SISIMAI why-ratelimited.go) */
	{ .text = { "too many connections", "too many concurrent", "too many sessions",
		    "too many simultaneous", "too many messages", "rate limit*", "rate-limit*",
		    "receiving mail too quickly", "receiving email too quickly",
		    "receiving mail at a rate", "receiving email at a rate", "excessive volume",
		    "temporarily deferred", "throttl*", "max message per connection",
		    "connection limit", "maximum number of connections", "exceeded permitted limits",
		    "messages per session", "recipient thread limit", "message receive limit",
		    "message threshold exceeded", "aup#cxcnct", "please try again slower",
		    "too many errors from your ip" },
	  .kind = CLASS_RATE_LIMIT, .label = "rate limited", .admin = ex_rate, .sender = sx_rate },

	/* POSTFIX "Relay access denied"; MS_DOC 5.7.1 "Unable to relay", 5.7.64; qmail-smtpd
	 * "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"; Mimecast
	 * "Open relay not allowed" (SISIMAI rhost/for-mimecast.go) */
	{ .text = { "relay access denied", "relaying denied", "relay denied",
		    "relay not permitted", "relaying not permitted", "relay not allowed",
		    "relaying not allowed", "unable to relay", "not permitted to relay",
		    "not allowed to relay", "we do not relay", "relaying prohibited",
		    "relay prohibited", "invalid credentials for relay", "relaying is denied",
		    "list of allowed rcpthosts", "open relay not allowed",
		    "open relay is not allowed" },
	  .kind = CLASS_RELAY_DENIED, .label = "relay denied", .admin = ex_relay, .sender = sx_relay },

	/* GMAIL_DOC 552 5.7.0 "potential security issue" */
	{ .text = { "virus*", "malware", "infected", "potential security issue",
		    "illegal attachment", "forbidden attachment", "dangerous attachment",
		    "blocked attachment", "phishing" },
	  .kind = CLASS_SPAM, .label = "spam: unsafe content", .admin = ex_unsafe, .sender = sx_unsafe },
	/* GMAIL_DOC "likely unsolicited mail", "nature of the content" */
	{ .text = { "spam*", "junk mail", "unsolicited", "content rejected",
		    "nature of the content", "likely suspicious", "bulk mail" },
	  .kind = CLASS_SPAM, .label = "spam", .admin = ex_spam, .sender = sx_spam },

	/* ---- 5. Only an enhanced status left to go by (RFC 3463 and the providers'
	 * own codes) ---- */
	/* MS_DOC 5.7.513, 5.7.507 */
	{ .status = { "*.7.513", "*.7.507" },
	  .kind = CLASS_BLOCKLIST, .label = "blocklist: recipient's own list",
	  .admin = ex_ownlist, .sender = sx_ownlist, .reroute = true },
	/* MS_DOC 4.7.650 */
	{ .status = { "4.7.650" },
	  .kind = CLASS_RATE_LIMIT, .label = "rate limited", .admin = ex_rate_microsoft, .sender = sx_rate },
	/* MS_DOC 5.7.606-649, 5.7.708, 5.7.511 */
	{ .status = { "*.7.606-649", "*.7.708", "*.7.511" },
	  .kind = CLASS_REPUTATION, .label = "reputation: Microsoft", .admin = ex_microsoft, .sender = sx_reputation,
	  .reroute = true },
	/* RFC 7372 X.7.25 "Reverse DNS validation failed" */
	{ .status = { "*.7.25" },
	  .kind = CLASS_NO_RDNS, .label = "no reverse DNS", .admin = ex_rdns, .sender = sx_rdns },
	/* MS_DOC 5.7.506 "Access denied, bad HELO" */
	{ .status = { "*.7.506" },
	  .kind = CLASS_POLICY, .label = "policy: HELO name", .admin = ex_helo, .sender = sx_helo },
	/* RFC 7372 X.7.23-X.7.27 (SPF, DKIM, DMARC); GMAIL_DOC 5.7.30-32, 5.7.40; MS_DOC
	 * 5.7.509, 5.7.515 */
	{ .status = { "*.7.23-24", "*.7.26-27", "*.7.30-32", "*.7.40", "*.7.509", "*.7.515" },
	  .kind = CLASS_POLICY, .label = "policy: SPF/DMARC", .admin = ex_policy, .sender = sx_policy },
	/* MS_DOC 5.7.57 */
	{ .status = { "*.7.57" },
	  .kind = CLASS_AUTH_REQUIRED, .label = "authentication required", .admin = ex_auth, .sender = sx_auth },
	/* RFC 3463 X.1.8 "Bad sender's system address" */
	{ .status = { "*.1.8" },
	  .kind = CLASS_DOMAIN_NOT_FOUND, .label = "sender domain not found",
	  .admin = ex_sender_domain, .sender = sx_sender_domain },
	/* RFC 3463 X.1.2 "Bad destination system address"; MS_DOC 5.4.310 */
	{ .status = { "*.1.2", "*.4.310" },
	  .kind = CLASS_DOMAIN_NOT_FOUND, .label = "domain not found", .admin = ex_domain, .sender = sx_domain },
	/* RFC 3463 X.5.3 "Too many recipients" */
	{ .status = { "*.5.3" },
	  .kind = CLASS_RATE_LIMIT, .label = "rate limited: too many recipients",
	  .admin = ex_rate_rcpts, .sender = sx_rate_rcpts },
	/* RFC 3463 X.1.1 "Bad destination mailbox address", X.1.6 "mailbox has moved";
	 * MS_DOC 5.1.10 */
	{ .status = { "*.1.1", "*.1.10", "*.1.6" },
	  .kind = CLASS_UNKNOWN_USER, .label = "unknown user", .admin = ex_unknown_user, .sender = sx_unknown_user },
	/* RFC 3463 X.2.2 "Mailbox full" */
	{ .status = { "*.2.2" },
	  .kind = CLASS_MAILBOX_FULL, .label = "mailbox full", .admin = ex_mailbox_full, .sender = sx_mailbox_full },
	/* RFC 3463 X.3.4 "Message too big for system", X.2.3 "Message length exceeds
	 * administrative limit" */
	{ .status = { "*.3.4", "*.2.3" },
	  .kind = CLASS_TOO_LARGE, .label = "message too large", .admin = ex_too_large, .sender = sx_too_large },
	/* MS_DOC 5.7.64 "TenantAttribution; Relay Access Denied" */
	{ .status = { "*.7.64" },
	  .kind = CLASS_RELAY_DENIED, .label = "relay denied", .admin = ex_relay, .sender = sx_relay },

	/* ---- 6. Only a code left to go by ---- */
	{ .codes = { 450, 451 },
	  .text = { "try again later", "try later", "retry later", "come back later",
		    "try again in" },
	  .kind = CLASS_GREYLIST, .label = "greylisted", .admin = ex_greylist, .sender = sx_greylist },
	{ .codes = { 421, 421 }, .status = { "-", "4.0.0", "4.7.*" },
	  .kind = CLASS_RATE_LIMIT, .label = "rate limited", .admin = ex_rate, .sender = sx_rate },
	{ .codes = { 421, 453 }, .status = { "4.7.*" },
	  .kind = CLASS_RATE_LIMIT, .label = "rate limited", .admin = ex_rate, .sender = sx_rate },
	{ .codes = { 552, 552 },
	  .kind = CLASS_TOO_LARGE, .label = "message too large", .admin = ex_too_large, .sender = sx_too_large },
	{ .codes = { 530, 530 }, .status = { "5.7.0" },
	  .kind = CLASS_AUTH_REQUIRED, .label = "authentication required", .admin = ex_auth, .sender = sx_auth },
	{ .codes = { 530, 530 },
	  .kind = CLASS_TLS_REQUIRED, .label = "TLS required", .admin = ex_tls, .sender = sx_tls },
};
/* clang-format on */

/*
 * relayd's own reasons (classify_local()): no remote reply, the words are
 * relayd's (relayd/dlv.c, relayd/mta.c, smtp/client.c). An expired recipient
 * keeps the words of its last failure, and its status is then 4.4.7: the text
 * rows come first for that reason, the status rows only catch what their words
 * do not.
 */
static const char ex_l_domain[] =
	"The recipient's domain does not exist in DNS (NXDOMAIN), or has neither an MX nor an "
	"address record: there is nowhere to deliver, so it bounced at once. Check the address "
	"for typos; nothing on this side helps.";
static const char ex_l_null_mx[] =
	"The recipient's domain publishes a null MX (RFC 7505, \"MX 0 .\"): it says it accepts "
	"no mail at all, so it bounced at once. Nothing on this side helps.";
static const char ex_l_connect[] =
	"No host of the destination accepted a connection (refused, timed out or unreachable). "
	"Check that the hosts are up and reachable from here on the transport's port "
	"(firewall, routing, source_address); relayd retries on its schedule and pauses a "
	"destination that is down (relayctl flush ends the pause).";
static const char ex_l_lost[] =
	"The connection broke off, or command_timeout or data_timeout passed, before the "
	"transaction ended. Retried; if it keeps happening with large messages, check the path "
	"(MTU, a firewall or proxy in between) or raise data_timeout on the transport.";
static const char ex_l_dns_temp[] =
	"An MX or address lookup failed temporarily (SERVFAIL, or no answer in time). Check "
	"dns_servers and that they resolve the name (dig MX domain @server); retried on the "
	"schedule.";
static const char ex_l_no_addr[] =
	"A host name has no A or AAAA record: for MX delivery an MX host of the recipient's "
	"domain (its owner must fix the DNS), for a transport with relay the relay's name "
	"(check it in the configuration).";
static const char ex_l_protocol[] =
	"The remote server broke the SMTP protocol (a malformed or oversized reply), so the "
	"session was dropped and the next host tried. Look at what it sends with relayd -v; "
	"retried on the schedule.";
static const char ex_l_tls_offer[] =
	"The transport's tls policy (encrypt or verify) requires STARTTLS, and the host did not "
	"offer it or refused it; relayd never falls back to plaintext there. Have the host "
	"offer STARTTLS, or give the transport the policy may if plaintext is acceptable for "
	"this destination.";
static const char ex_l_tls_failed[] =
	"TLS could not be set up: the handshake failed, or under verify the certificate did not "
	"chain to ca_file or match a name in match (relayd -v logs which). Fix the host's "
	"certificate or the policy's ca_file and match, or use encrypt where the certificate "
	"need not be checked.";
static const char ex_l_auth_tls[] =
	"The transport has auth_user, and the smarthost offered no TLS: relayd never sends a "
	"password in plaintext. Enable STARTTLS on the smarthost, or set smtps on the "
	"transport if it speaks implicit TLS.";
static const char ex_l_auth[] =
	"The smarthost refused relayd's login, or the password could not be read: check "
	"auth_user and auth_password_file of the transport, then relayctl flush.";
static const char ex_l_no_route[] =
	"No route matches the recipient's domain any more (the configuration changed after the "
	"message was queued): add a route for it, or a \"*\" route, and reload.";
static const char ex_l_local[] =
	"relayd itself could not deliver: its configuration or the spool stopped it (the reason "
	"says which). Fix that, then relayctl flush.";

static const char sx_l_null_mx[] =
	"The recipient's domain (the part of the address after the @) states that it does not "
	"receive email at all. Check the address for typos; if it is right, the recipient "
	"cannot be reached by email at this address: contact them another way.";
static const char sx_l_connect[] =
	"The recipient's mail server could not be reached: it did not answer, or refused the "
	"connection. This is not about your message; it is usually a temporary problem on the "
	"recipient's side.";
static const char sx_l_lost[] =
	"The connection to the recipient's mail server broke off before it had accepted your "
	"message. This is not about your message; it is usually a temporary problem on the "
	"recipient's side or on the way there.";
static const char sx_l_dns_temp[] =
	"The recipient's domain (the part of the address after the @) could not be looked up "
	"because of a temporary failure of the internet's name service for it. This is not "
	"about your message or the address; it usually works again later.";
static const char sx_l_no_addr[] =
	"The mail server that should receive your message could not be found on the internet: "
	"its name leads to no address. This is not about your message. Check the address for "
	"typos; if it is right, tell your IT team, or reach the recipient another way.";
static const char sx_l_protocol[] =
	"The recipient's mail server answered in a way that breaks the rules of email, so the "
	"delivery was stopped. This is a problem on the recipient's side, not about your "
	"message.";
static const char sx_l_tls_offer[] =
	"Mail to this recipient must travel over an encrypted connection, but the recipient's "
	"mail server did not offer one, so your message was not sent unprotected. This is "
	"about the recipient's mail server, not your message: tell your IT team, or reach the "
	"recipient another way.";
static const char sx_l_tls_failed[] =
	"Mail to this recipient must travel over a secure connection, but none could be set up "
	"with the recipient's mail server (it could not prove its identity, or the encryption "
	"failed), so your message was not sent unprotected. This is about the recipient's mail "
	"server, not your message: tell your IT team, or reach the recipient another way.";
static const char sx_l_local[] =
	"A problem in this mail system's own setup stopped the delivery; it is not about your "
	"message or the recipient. Please tell your IT team (forward them this report); once "
	"they have solved it, send the message again.";

/* clang-format off */
static const struct rule local_rules[] = {
	/* dlv.c DLV_W_ADDR of a domain without MX, DLV_W_MX: "Host or domain name not
	 * found. Name service error for name=... type=MX" (Postfix's words) */
	{ .text = { "name service error" },
	  .kind = CLASS_DOMAIN_NOT_FOUND, .label = "domain not found", .admin = ex_l_domain,
	  .sender = sx_domain },
	/* dlv.c DLV_W_NULL_MX */
	{ .text = { "null mx" },
	  .kind = CLASS_NULL_MX, .label = "domain accepts no mail", .admin = ex_l_null_mx,
	  .sender = sx_l_null_mx },
	/* client.c: AUTH without TLS, before the TLS rows */
	{ .text = { "password is never sent" },
	  .kind = CLASS_LOCAL, .label = "no TLS for the password", .admin = ex_l_auth_tls,
	  .sender = sx_l_local },
	/* client.c after_ehlo(), CL_STARTTLS: "TLS is required, but was not offered by the
	 * remote host" / "... but the remote host refused STARTTLS: 454 ..." */
	{ .text = { "tls is required" },
	  .kind = CLASS_TLS_FAILED, .label = "TLS not offered", .admin = ex_l_tls_offer,
	  .sender = sx_l_tls_offer },
	/* mta.c conn_start_tls(), conn_tls_failed() */
	{ .text = { "tls handshake", "cannot start tls" },
	  .kind = CLASS_TLS_FAILED, .label = "TLS failed", .admin = ex_l_tls_failed,
	  .sender = sx_l_tls_failed },
	/* client.c CL_AUTH; mta.c read_password() */
	{ .text = { "authentication failed", "auth_password_file" },
	  .kind = CLASS_LOCAL, .label = "authentication failed", .admin = ex_l_auth,
	  .sender = sx_l_local },
	/* dlv.c DLV_W_NO_ROUTE */
	{ .text = { "no route for" },
	  .kind = CLASS_LOCAL, .label = "no route", .admin = ex_l_no_route, .sender = sx_l_local },
	/* mta.c hook_body(), conn_next_host() */
	{ .text = { "cannot read the queued message", "bad address literal" },
	  .kind = CLASS_LOCAL, .label = "local error", .admin = ex_l_local, .sender = sx_l_local },
	/* dlv.c DLV_W_MX, DLV_W_ADDR with dns_strstatus(DNS_TEMPFAIL) */
	{ .text = { "temporary dns failure" },
	  .kind = CLASS_CONNECTION, .label = "DNS lookup failed", .admin = ex_l_dns_temp,
	  .sender = sx_l_dns_temp },
	/* dlv.c DLV_W_ADDR: "cannot find the address of HOST: ..." */
	{ .text = { "cannot find the address of" },
	  .kind = CLASS_CONNECTION, .label = "host not found", .admin = ex_l_no_addr,
	  .sender = sx_l_no_addr },
	/* client.c protocol_error(), client_input() */
	{ .text = { "protocol error", "a reply from the remote server of more than" },
	  .kind = CLASS_CONNECTION, .label = "protocol error", .admin = ex_l_protocol,
	  .sender = sx_l_protocol },
	/* mta.c conn_lost(): "lost connection with", "conversation with ... timed out",
	 * "reply line from ... longer than" */
	{ .text = { "lost connection", "conversation with", "reply line from" },
	  .kind = CLASS_CONNECTION, .label = "connection lost", .admin = ex_l_lost,
	  .sender = sx_l_lost },
	/* dlv.c DLV_W_CONNECT "connect to HOST: ...", DLV_W_NO_HOST, DLV_W_SUSPENDED */
	{ .text = { "connect to", "no relay host could be tried", "destination is unreachable" },
	  .kind = CLASS_CONNECTION, .label = "no connection", .admin = ex_l_connect,
	  .sender = sx_l_connect },

	/* By the status alone (dlv.c's and client.c's) */
	{ .status = { "5.1.2" },
	  .kind = CLASS_DOMAIN_NOT_FOUND, .label = "domain not found", .admin = ex_l_domain,
	  .sender = sx_domain },
	{ .status = { "5.1.10" },
	  .kind = CLASS_NULL_MX, .label = "domain accepts no mail", .admin = ex_l_null_mx,
	  .sender = sx_l_null_mx },
	{ .status = { "4.7.4" },
	  .kind = CLASS_TLS_FAILED, .label = "TLS not offered", .admin = ex_l_tls_offer,
	  .sender = sx_l_tls_offer },
	{ .status = { "4.7.5" },
	  .kind = CLASS_TLS_FAILED, .label = "TLS failed", .admin = ex_l_tls_failed,
	  .sender = sx_l_tls_failed },
	{ .status = { "4.7.8" },
	  .kind = CLASS_LOCAL, .label = "authentication failed", .admin = ex_l_auth,
	  .sender = sx_l_local },
	{ .status = { "4.3.*" },
	  .kind = CLASS_LOCAL, .label = "local error", .admin = ex_l_local, .sender = sx_l_local },
	{ .status = { "4.4.3" },
	  .kind = CLASS_CONNECTION, .label = "DNS lookup failed", .admin = ex_l_dns_temp,
	  .sender = sx_l_dns_temp },
	{ .status = { "4.5.0" },
	  .kind = CLASS_CONNECTION, .label = "protocol error", .admin = ex_l_protocol,
	  .sender = sx_l_protocol },
	{ .status = { "4.4.2" },
	  .kind = CLASS_CONNECTION, .label = "connection lost", .admin = ex_l_lost,
	  .sender = sx_l_lost },
	{ .status = { "4.4.0-1", "4.4.4" },
	  .kind = CLASS_CONNECTION, .label = "no connection", .admin = ex_l_connect,
	  .sender = sx_l_connect },
};
/* clang-format on */

/*
 * The sender's text when no row says more: a remote reply by the subject of its
 * enhanced status (RFC 3463 3.1, X.1 addressing to X.7 security or policy), one
 * for a reply without a status, one for relayd's own words.
 */
static const char *const sx_subject[] = {
	[1] = "The recipient's mail server refused the address. Check it for typos, or ask the "
	      "recipient for the right one.",
	[2] = "The recipient's mailbox could not take your message (it may be full, closed or "
	      "disabled). This is about the recipient, not your message: try again later, or "
	      "let them know another way.",
	[3] = "The recipient's mail system could not take your message because of a problem "
	      "on its side. This is not about your message; try again later.",
	[4] = "Your message could not be passed on toward the recipient (a network or routing "
	      "problem on the way). This is usually temporary and not about your message; try "
	      "again later.",
	[5] = "The recipient's mail server and this mail system could not agree on how to hand "
	      "over your message. This is not about your message: if it keeps happening, "
	      "please tell your IT team (forward them this report).",
	[6] = "The recipient's mail server could not accept your message's content or format. "
	      "Try sending it again in a simpler form (for example without an unusual "
	      "attachment).",
	[7] = "The recipient's mail server refused your message under a security or policy "
	      "rule of its own; its reply above may say which. If it does not say what you can "
	      "do, please tell your IT team (forward them this report), or reach the recipient "
	      "another way.",
};
static const char sx_reply[] =
	"The recipient's mail server refused your message, and its reply above is all it said. "
	"If that does not say what you can do, please tell your IT team (forward them this "
	"report), or reach the recipient another way.";
static const char sx_l_other[] =
	"This mail system could not deliver your message. If the reason above does not say what "
	"you can do, please tell your IT team (forward them this report).";

/* ASCII only, whatever the locale: bytes above 0x7f are neither. */
static bool
classify_word(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
classify_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static char
classify_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/*
 * Bytes of T (N available) that PAT (PLEN bytes) matches at its start, a space
 * in PAT taking a run of white space; 0 when it does not match.
 */
static size_t
classify_match_at(const char *t, size_t n, const char *pat, size_t plen)
{
	size_t j, k = 0;

	for (j = 0; j < plen; j++) {
		if (pat[j] == ' ') {
			if (k >= n || !classify_space(t[k]))
				return 0;
			while (k < n && classify_space(t[k]))
				k++;
		} else {
			if (k >= n || classify_lower(t[k]) != classify_lower(pat[j]))
				return 0;
			k++;
		}
	}
	return k;
}

/* Whether PAT (a text phrase of a rule) occurs in T, N bytes long. */
static bool
classify_find(const char *t, size_t n, const char *pat)
{
	size_t plen = strlen(pat), i, got;
	bool lead = true, trail = true;

	if (plen > 0 && pat[0] == '*') {
		lead = false;
		pat++;
		plen--;
	}
	if (plen > 0 && pat[plen - 1] == '*') {
		trail = false;
		plen--;
	}
	if (plen == 0)
		return false;
	lead = lead && classify_word(pat[0]);
	trail = trail && classify_word(pat[plen - 1]);

	for (i = 0; i < n; i++) {
		if (lead && i > 0 && classify_word(t[i - 1]))
			continue;
		if ((got = classify_match_at(t + i, n - i, pat, plen)) == 0)
			continue;
		if (trail && i + got < n && classify_word(t[i + got]))
			continue;
		return true;
	}
	return false;
}

/*
 * Length of an enhanced status "C.SSS.DDD" at S (at most N bytes), stored in ST:
 * the class, then one to three digits twice, ending at N, a NUL or a byte that is
 * neither a digit nor a dot. 0 when there is none.
 */
static size_t
classify_status_parse(const char *s, size_t n, struct status *st)
{
	size_t i = 0, d;
	int part;

	if (n < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5'))
		return 0;
	st->part[0] = s[i++] - '0';
	for (part = 1; part < 3; part++) {
		if (i >= n || s[i++] != '.')
			return 0;
		st->part[part] = 0;
		for (d = 0; i < n && d < 4 && s[i] >= '0' && s[i] <= '9'; d++, i++)
			st->part[part] = st->part[part] * 10 + (s[i] - '0');
		if (d == 0 || d > 3)
			return 0;
	}
	if (i < n && s[i] != '\0' && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
		return 0;
	st->present = true;
	return i;
}

/* One part of a status pattern ("*", "7", "606-649") at *PP against VAL. */
static bool
classify_part_match(const char **pp, int val)
{
	const char *p = *pp;
	int lo = 0, hi;
	bool ok;

	if (*p == '*') {
		p++;
		ok = true;
	} else {
		while (*p >= '0' && *p <= '9')
			lo = lo * 10 + (*p++ - '0');
		hi = lo;
		if (*p == '-') {
			p++;
			hi = 0;
			while (*p >= '0' && *p <= '9')
				hi = hi * 10 + (*p++ - '0');
		}
		ok = val >= lo && val <= hi;
	}
	if (*p == '.')
		p++;
	*pp = p;
	return ok;
}

/* Whether the reply's status ST matches the pattern PAT of a rule. */
static bool
classify_status_match(const struct status *st, const char *pat)
{
	int part;
	bool ok = true;

	if (strcmp(pat, "-") == 0)
		return !st->present;
	if (!st->present)
		return false;
	for (part = 0; part < 3; part++)
		ok = classify_part_match(&pat, st->part[part]) && ok;
	return ok;
}

static bool
classify_rule_match(const struct rule *r, int code, const struct status *st, const char *text,
		    size_t len)
{
	bool has_status = r->status[0] != NULL, has_text = r->text[0] != NULL;
	bool status_ok = false, text_ok = false;
	size_t i;

	if (r->codes[0] != 0 && (code < r->codes[0] || code > r->codes[1]))
		return false;
	for (i = 0; i < NELEM(r->status) && r->status[i] != NULL && !status_ok; i++)
		status_ok = classify_status_match(st, r->status[i]);
	for (i = 0; i < NELEM(r->text) && r->text[i] != NULL && !text_ok; i++)
		text_ok = classify_find(text, len, r->text[i]);

	return (!has_status || status_ok) && (!has_text || text_ok);
}

/* Whether a reply-line marker ("550-", "550 ", "550" at the end) starts at T[I]. */
static bool
classify_marker(const char *t, size_t n, size_t i, const char digits[3])
{
	if (i > 0 && !classify_space(t[i - 1]))
		return false;
	if (n - i < 3 || memcmp(t + i, digits, 3) != 0)
		return false;
	return n - i == 3 || t[i + 3] == '-' || t[i + 3] == ' ';
}

/*
 * Copy the N bytes of T to OUT (at least N bytes) without the reply-line markers
 * that the verbatim lines of a multi-line reply carry ("550-5.7.1 ", "550 "), so
 * that a phrase broken over two lines is whole again: each marker, at the start
 * or after white space, becomes one space. The first marker's status is stored
 * in FIRST. Returns the length, never more than N.
 */
static size_t
classify_unwrap(int code, const char *t, size_t n, char *out, struct status *first)
{
	char digits[3] = {(char)('0' + code / 100), (char)('0' + code / 10 % 10),
			  (char)('0' + code % 10)};
	struct status st;
	size_t i = 0, o = 0, j, sl;

	/* A marker takes three bytes or more and gives one: o never passes i. */
	while (i < n) {
		if (!classify_marker(t, n, i, digits)) {
			out[o++] = t[i++];
			continue;
		}
		i += n - i > 3 ? 4 : 3;
		j = i < n && t[i] == '#' ? i + 1 : i;
		memset(&st, 0, sizeof(st));
		if ((sl = classify_status_parse(t + j, n - j, &st)) != 0 &&
		    st.part[0] == code / 100 && (j + sl == n || classify_space(t[j + sl]))) {
			if (!first->present)
				*first = st;
			i = j + sl;
		}
		while (i < n && classify_space(t[i]))
			i++;
		if (o > 0 && out[o - 1] != ' ')
			out[o++] = ' ';
	}
	return o;
}

/*
 * The reply's enhanced status: STATUS, unless it is missing or only says its
 * class ("5.0.0", as relayd fills in for a reply without one); then the status
 * after the first line's code (FIRST), or one at the start of TEXT (after spaces
 * and a '#', as in "#5.7.1 ...") whose class is the code's.
 */
static void
classify_status(int code, const char *status, const struct status *first, const char *text,
		size_t len, struct status *st)
{
	struct status t;
	size_t i = 0;

	memset(st, 0, sizeof(*st));
	if (status != NULL && classify_status_parse(status, strnlen(status, 32), st) != 0 &&
	    (st->part[1] != 0 || st->part[2] != 0))
		return;
	if (first->present) {
		*st = *first;
		return;
	}
	while (i < len && i < 8 && (text[i] == ' ' || text[i] == '#'))
		i++;
	memset(&t, 0, sizeof(t));
	if (classify_status_parse(text + i, len - i, &t) != 0 && t.part[0] == code / 100)
		*st = t;
}

/*
 * The first row of TABLE (N rows) that matches, copied to OUT; a row of kind
 * CLASS_NONE leaves OUT as it is. False when no row matches.
 */
static bool
classify_table(const struct rule *table, size_t n, int code, const struct status *st,
	       const char *text, size_t len, struct classification *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!classify_rule_match(&table[i], code, st, text, len))
			continue;
		if (table[i].kind != CLASS_NONE) {
			out->kind = table[i].kind;
			out->label = table[i].label;
			out->admin = table[i].admin;
			out->sender = table[i].sender;
			out->reroute = table[i].reroute;
		}
		return true;
	}
	return false;
}

static void
classify_clear(struct classification *out)
{
	out->kind = CLASS_NONE;
	out->label = NULL;
	out->admin = NULL;
	out->sender = NULL;
	out->reroute = false;
}

/* Classify a reply: the first row of rules[] that matches it, or CLASS_NONE;
 * the sender's text by the status's subject when no row says more. */
void
classify(int code, const char *status, const char *text, struct classification *out)
{
	struct status st, first;
	char buf[CLASSIFY_SCAN];
	size_t len;

	classify_clear(out);
	if (code < 400 || code > 599)
		return;
	if (text == NULL)
		text = "";
	memset(&first, 0, sizeof(first));
	len = classify_unwrap(code, text, strnlen(text, sizeof(buf)), buf, &first);
	classify_status(code, status, &first, buf, len, &st);

	classify_table(rules, NELEM(rules), code, &st, buf, len, out);
	if (out->sender == NULL)
		out->sender = st.present && st.part[1] >= 1 && st.part[1] < (int)NELEM(sx_subject)
				      ? sx_subject[st.part[1]]
				      : sx_reply;
}

/* Classify relayd's own reason TEXT with STATUS: the first row of
 * local_rules[] that matches, or CLASS_NONE with a generic sender's text. */
void
classify_local(const char *status, const char *text, struct classification *out)
{
	struct status st;

	classify_clear(out);
	if (text == NULL)
		text = "";
	memset(&st, 0, sizeof(st));
	if (status != NULL && classify_status_parse(status, strnlen(status, 32), &st) == 0)
		memset(&st, 0, sizeof(st));
	classify_table(local_rules, NELEM(local_rules), 0, &st, text, strnlen(text, CLASSIFY_SCAN),
		       out);
	if (out->sender == NULL)
		out->sender = sx_l_other;
}

/* Row I of rules[] (of local_rules[] when LOCAL) as a classification; false
 * past the last row. */
bool
classify_row(size_t i, bool local, struct classification *out)
{
	const struct rule *r;

	classify_clear(out);
	if (i >= (local ? NELEM(local_rules) : NELEM(rules)))
		return false;
	r = local ? &local_rules[i] : &rules[i];
	out->kind = r->kind;
	out->label = r->label;
	out->admin = r->admin;
	out->sender = r->sender;
	out->reroute = r->reroute;
	return true;
}

/* The stable name of a category; "none" for CLASS_NONE and unknown values. */
const char *
classify_name(enum class_kind k)
{
	static const char *const names[] = {
		[CLASS_NONE] = "none",
		[CLASS_BLOCKLIST] = "blocklist",
		[CLASS_REPUTATION] = "reputation",
		[CLASS_UNKNOWN_USER] = "unknown_user",
		[CLASS_MAILBOX_FULL] = "mailbox_full",
		[CLASS_TOO_LARGE] = "too_large",
		[CLASS_TLS_REQUIRED] = "tls_required",
		[CLASS_AUTH_REQUIRED] = "auth_required",
		[CLASS_RATE_LIMIT] = "rate_limit",
		[CLASS_GREYLIST] = "greylist",
		[CLASS_DOMAIN_NOT_FOUND] = "domain_not_found",
		[CLASS_POLICY] = "policy",
		[CLASS_SPAM] = "spam",
		[CLASS_RELAY_DENIED] = "relay_denied",
		[CLASS_NO_RDNS] = "no_rdns",
		[CLASS_HOST_UNKNOWN] = "host_unknown",
		[CLASS_NULL_MX] = "null_mx",
		[CLASS_CONNECTION] = "connection",
		[CLASS_TLS_FAILED] = "tls_failed",
		[CLASS_LOCAL] = "local",
	};

	if ((unsigned)k >= NELEM(names) || names[k] == NULL)
		return "none";
	return names[k];
}
