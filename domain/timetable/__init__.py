"""Timetable context: course timetabling problems, the ITC2007 file formats, a scorer and a CP-SAT solver."""
