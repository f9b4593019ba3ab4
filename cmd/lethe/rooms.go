package main

import (
	"context"
	"errors"

	"github.com/lethe-rtc/lethe/adminserver"
	"github.com/lethe-rtc/lethe/control"
	"github.com/lethe-rtc/lethe/signaling"
)

// adminRooms presents the signaling edge's room registry to the admin API
// (type conversion only).
type adminRooms struct{ s *control.Server }

var _ adminserver.Rooms = adminRooms{}

func (a adminRooms) Rooms(_ context.Context, app uint32) ([]adminserver.RoomInfo, error) {
	out := []adminserver.RoomInfo{}
	for _, r := range a.s.Rooms(app) {
		info := adminserver.RoomInfo{Room: adminserver.RoomRef{RoomID: r.RoomID, StrRoomID: r.StrRoomID}}
		for _, m := range r.Participants {
			info.Participants = append(info.Participants, adminserver.ParticipantInfo{
				ParticipantID: m.ParticipantID, UserID: m.UserID, Role: string(m.Role), Tracks: m.Tracks,
				AudioBlocked: m.Blocked&signaling.Audio != 0, VideoBlocked: m.Blocked&signaling.Video != 0,
			})
		}
		out = append(out, info)
	}
	return out, nil
}

func (a adminRooms) Dismiss(_ context.Context, app uint32, room adminserver.RoomRef) error {
	return roomErr(a.s.Dismiss(app, room.RoomID, room.StrRoomID))
}

func (a adminRooms) RemoveUser(ctx context.Context, app uint32, room adminserver.RoomRef, userID string) error {
	return roomErr(a.s.RemoveUser(ctx, app, room.RoomID, room.StrRoomID, userID))
}

func (a adminRooms) Block(_ context.Context, app uint32, room adminserver.RoomRef, userID string, audio, video, blocked bool) error {
	var m signaling.Media
	if audio {
		m |= signaling.Audio
	}
	if video {
		m |= signaling.Video | signaling.Screen
	}
	return roomErr(a.s.Block(app, room.RoomID, room.StrRoomID, userID, m, blocked))
}

func roomErr(err error) error {
	switch {
	case errors.Is(err, control.ErrRoomNotFound):
		return adminserver.ErrRoomNotFound
	case errors.Is(err, control.ErrUserNotFound):
		return adminserver.ErrUserNotFound
	}
	return err
}
