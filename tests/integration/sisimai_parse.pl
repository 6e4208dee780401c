#!/usr/bin/perl
# sisimai_parse.pl -- read one bounce message on stdin with Sisimai (Debian's
# libsisimai-perl), a standard DSN parser used by mail senders, and print one
# tab-separated line per recipient: address, reason, deliverystatus, action,
# smtpcommand, diagnostictype, replycode. Used by test_dsn.py.
use strict;
use warnings;
use Sisimai;

local $/;
my $mail = <STDIN>;
$mail =~ s/\r\n/\n/g;
# Sisimai reads mailboxes: give the message an mbox "From " line.
$mail = "From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n" . $mail unless $mail =~ /\AFrom /;
my $v = Sisimai->make(\$mail) // [];
for my $e (@$v) {
    print join("\t", $e->recipient->address, $e->reason, $e->deliverystatus,
               $e->action // '', $e->smtpcommand // '', $e->diagnostictype // '',
               $e->replycode // ''), "\n";
}
