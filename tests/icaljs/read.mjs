// Reads .ics files with Mozilla's ical.js and prints what a calendar client takes from each, as JSON lines.
// Usage: node read.mjs FILE...   (a file ical.js cannot parse makes it exit non-zero)
// The calendar's own VTIMEZONEs are registered first, as Thunderbird does, so that a TZID resolves by them.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

for (const path of process.argv.slice(2)) {
  const calendar = new ICAL.Component(ICAL.parse(readFileSync(path, "utf8")));
  const zones = calendar.getAllSubcomponents("vtimezone");
  for (const zone of zones) {
    ICAL.TimezoneService.register(zone);
  }
  const vevent = calendar.getFirstSubcomponent("vevent");
  const event = new ICAL.Event(vevent);
  const organizer = vevent.getFirstProperty("organizer");
  const attendee = vevent.getFirstProperty("attendee");
  console.log(
    JSON.stringify({
      method: calendar.getFirstPropertyValue("method"),
      timezones: zones.map((zone) => zone.getFirstPropertyValue("tzid")),
      uid: event.uid,
      sequence: event.sequence,
      status: vevent.getFirstPropertyValue("status"),
      start: event.startDate.toJSDate().toISOString(),
      end: event.endDate.toJSDate().toISOString(),
      start_tzid: vevent.getFirstProperty("dtstart").getParameter("tzid") ?? null,
      start_local: event.startDate.toString(),
      summary: event.summary,
      location: event.location,
      description: event.description,
      organizer: organizer.getFirstValue(),
      organizer_cn: organizer.getParameter("cn"),
      sent_by: organizer.getParameter("sent-by") ?? null,
      attendee: attendee.getFirstValue(),
      attendee_cn: attendee.getParameter("cn"),
      partstat: attendee.getParameter("partstat"),
      rsvp: attendee.getParameter("rsvp") ?? null,
    }),
  );
}
